"""SEND (Piattaforma Notifiche Digitali) B2B client for public administrations.

Spec: openapi/api-external-b2b-pa-bundle.yaml. Flow: preload each PDF
(`POST /delivery/attachments/preload` gives a presigned URL, we PUT the bytes with
their sha256), send the v2.6 notification request, then follow it:
`GET /delivery/v2.6/requests` (WAITING/ACCEPTED/REFUSED, IUN once accepted) and
`GET /delivery/v2.6/notifications/sent/{iun}` (notificationStatus). Auth: `x-api-key`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from ..base import config
from ..base.errors import InvalidResponse
from ..base.http import HttpClient
from ..base.openapi import check_request, check_response

SPEC = "send/openapi/api-external-b2b-pa-bundle.yaml"
PRELOAD = "/delivery/attachments/preload"
REQUESTS = "/delivery/v2.6/requests"
SENT = "/delivery/v2.6/notifications/sent/{iun}"


def sha256_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")


@dataclass(frozen=True)
class UploadedDocument:
    key: str
    version_token: str
    sha256: str
    content_type: str = "application/pdf"

    def as_notification_document(self, *, title: str, index: int) -> dict[str, Any]:
        return {
            "digests": {"sha256": self.sha256},
            "contentType": self.content_type,
            "ref": {"key": self.key, "versionToken": self.version_token},
            "title": title,
            "docIdx": str(index),
        }


class SendClient:
    platform = "send"

    @classmethod
    def from_config(cls, source: Any) -> SendClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of a PlatformConfig."""
        cfg = config.resolve(cls.platform, source)
        return cls(cfg.base_url, api_key=cfg.credential("api_key"), timeout=cfg.timeout)

    def __init__(self, base_url: str, *, api_key: str, timeout: tuple[float, float] = (5.0, 30.0),
                 validate_responses: bool = True) -> None:
        self.validate_responses = validate_responses
        self.http = HttpClient(base_url, platform="SEND", timeout=timeout, default_headers={"x-api-key": api_key},
                               max_response_bytes=10 * 1024 * 1024)

    def _check(self, method: str, path: str, status: int, body: Any) -> Any:
        if self.validate_responses:
            check_response(SPEC, method, path, status, body)
        return body

    def upload(self, content: bytes, *, content_type: str = "application/pdf") -> UploadedDocument:
        digest = sha256_b64(content)
        request = [{"preloadIdx": "0", "contentType": content_type, "sha256": digest}]
        check_request(SPEC, "post", PRELOAD, request)
        response = self.http.request("POST", PRELOAD, json=request)
        slots = self._check("post", PRELOAD, response.status, response.json())
        if not slots or not slots[0].get("url") or not slots[0].get("key"):
            raise InvalidResponse(_("SEND non ha restituito l'indirizzo di caricamento del documento."))
        slot = slots[0]
        # The presigned URL is on the storage, not on the API host: the API key must not travel there.
        upload = HttpClient(slot["url"], platform="SEND storage", timeout=(5.0, 60.0),
                            secrets_to_mask=[slot.get("secret", "")])
        try:
            put = upload.request(
                slot.get("httpMethod", "PUT"), slot["url"], content=content,
                headers={"Content-Type": content_type, "x-amz-meta-secret": slot.get("secret", ""),
                         "x-amz-checksum-sha256": digest},
                expected_content_types=(),
            )
        finally:
            upload.close()
        version = put.headers.get("x-amz-version-id")
        if not version:
            raise InvalidResponse(_("Il caricamento del documento su SEND non ha restituito la versione."))
        return UploadedDocument(key=slot["key"], version_token=version, sha256=digest, content_type=content_type)

    def send_notification(self, request: dict[str, Any]) -> dict[str, Any]:
        check_request(SPEC, "post", REQUESTS, request)
        response = self.http.request("POST", REQUESTS, json=request)
        return self._check("post", REQUESTS, response.status, response.json())

    def request_status(self, *, notification_request_id: str | None = None, pa_protocol_number: str | None = None,
                       idempotence_token: str | None = None) -> dict[str, Any] | None:
        params = {"notificationRequestId": notification_request_id} if notification_request_id else {
            "paProtocolNumber": pa_protocol_number, "idempotenceToken": idempotence_token}
        response = self.http.request("GET", REQUESTS, params={k: v for k, v in params.items() if v},
                                     allowed_statuses=(404,))
        if response.status == 404:
            return None
        return self._check("get", REQUESTS, response.status, response.json())

    def notification(self, iun: str) -> dict[str, Any]:
        response = self.http.request("GET", SENT.format(iun=iun))
        return self._check("get", SENT, response.status, response.json())
