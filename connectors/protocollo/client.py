"""Generic REST adapter to the municipality's protocol-management system.

Every protocol product (and version) has its own API, so we speak one small
JSON contract that a thin adapter on the product's side (or a product that
implements it) exposes; the path is configurable per tenant
(ConnectorConfig.settings["register_path"]):

    POST {base_url}{register_path}        Authorization: Bearer <api_key>
                                          Idempotency-Key: <operation key>
    {"verso": "E"|"U", "oggetto": str, "corrispondente": {...},
     "documento_primario": {"nome_file", "impronta_sha256", "mime_type"},
     "allegati": [...], "classifica": str, "codice_aoo": str, "codice_registro": str,
     "data_arrivo": "YYYY-MM-DD" (optional, incoming: the day the document reached the office)}

    201 (200 when the Idempotency-Key was already registered)
    {"numero": "0000123", "data": "2026-11-23", "ora": "10:15:00", "codice_registro": "PG", "anno": 2026}

Errors are RFC 7807 problem+json.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from ..base import config
from ..base.errors import InvalidResponse
from ..base.http import HttpClient

DEFAULT_REGISTER_PATH = "/api/v1/registrazioni"


class ProtocolClient:
    platform = "protocollo"

    @classmethod
    def from_config(cls, source: Any) -> ProtocolClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of a PlatformConfig;
        the tenant's `register_path` setting names the adapter's path."""
        cfg = config.resolve(cls.platform, source)
        return cls(cfg.base_url, api_key=cfg.credential("api_key"),
                   register_path=str(cfg.settings.get("register_path") or DEFAULT_REGISTER_PATH), timeout=cfg.timeout)

    def __init__(self, base_url: str, *, api_key: str, register_path: str = DEFAULT_REGISTER_PATH,
                 timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.register_path = register_path
        self.http = HttpClient(base_url, platform="Protocollo", timeout=timeout,
                               default_headers={"Authorization": f"Bearer {api_key}"})

    def register(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        response = self.http.request("POST", self.register_path, json=body,
                                     headers={"Idempotency-Key": idempotency_key})
        data = response.json()
        number = str(data.get("numero") or "")
        if not re.fullmatch(r"\d{1,}", number) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(data.get("data", ""))):
            raise InvalidResponse(_("Il sistema di protocollo ha risposto senza numero o data validi."),
                                  details={"body": data})
        return data
