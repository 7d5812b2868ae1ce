"""ANPR operations used by BPMN service tasks.

For now they only log and return a plausible answer; the connectors issue replaces
them with real SOAP/REST calls to ANPR (or its simulator). Names and the shape of
params/results are the contract the process models rely on.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from common.operations import OperationContext, operation

logger = logging.getLogger(__name__)


def _pseudo_id(prefix: str, key: str) -> str:
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:12].upper()


@operation(
    "anpr.mutazione_residenza",
    description="Registra in ANPR il cambio di residenza (5005 nel comune, 1002 da altro comune)",
)
def mutazione_residenza(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    logger.info("anpr.mutazione_residenza (log only) key=%s params=%s", ctx.idempotency_key, params)
    return {"id_operazione_anpr": _pseudo_id("MR", ctx.idempotency_key), "esito": "OK"}


@operation(
    "anpr.annullamento_mutazione",
    description="Annulla in ANPR la registrazione o mutazione (1013/5012) e ripristina la posizione",
)
def annullamento_mutazione(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    logger.info("anpr.annullamento_mutazione (log only) key=%s params=%s", ctx.idempotency_key, params)
    return {"id_operazione_anpr": _pseudo_id("AN", ctx.idempotency_key), "esito": "OK"}
