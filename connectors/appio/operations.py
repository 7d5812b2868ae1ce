"""App IO operations (log only for now; the connectors issue makes them real)."""

from __future__ import annotations

import logging
from typing import Any

from common.operations import OperationContext, operation

logger = logging.getLogger(__name__)


@operation("appio.send_message", description="Invia un messaggio al cittadino su App IO")
def send_message(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    logger.info("appio.send_message (log only) key=%s params=%s", ctx.idempotency_key, params)
    return {"sent": True, "message_id": ctx.idempotency_key[:26]}
