"""App IO REST client (api.io.pagopa.it/api/v1), spec openapi/index.yaml (Swagger 2.0).

We use the body variants getProfileByPOST (`POST /profiles`) and
submitMessageforUserWithFiscalCodeInBody (`POST /messages`): same semantics as
getProfile / submitMessageforUser, but the citizen's fiscal code stays out of
URLs and therefore out of proxy and access logs (GDPR data minimisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from ..base import config
from ..base.errors import InvalidRequest
from ..base.http import HttpClient
from ..base.openapi import check_request, check_response

SPEC = "appio/openapi/index.yaml"
SUBJECT_LIMITS = (10, 120)
MARKDOWN_LIMITS = (80, 10000)


@dataclass(frozen=True)
class Profile:
    on_io: bool
    sender_allowed: bool
    preferred_languages: tuple[str, ...] = ()


def validate_content(subject: str, markdown: str) -> None:
    """App IO refuses subjects outside 10-120 and markdown outside 80-10000 characters."""
    details: dict[str, list[str]] = {}
    if not SUBJECT_LIMITS[0] <= len(subject) <= SUBJECT_LIMITS[1]:
        details["subject"] = [_("L'oggetto deve avere da 10 a 120 caratteri (ne ha %(n)s).") % {"n": len(subject)}]
    if not MARKDOWN_LIMITS[0] <= len(markdown) <= MARKDOWN_LIMITS[1]:
        details["markdown"] = [
            _("Il testo deve avere da 80 a 10000 caratteri (ne ha %(n)s).") % {"n": len(markdown)}
        ]
    if details:
        raise InvalidRequest(_("Il messaggio non rispetta i limiti di App IO."), details=details)


@dataclass(frozen=True)
class MessageStatus:
    """getMessage: the processing status (ACCEPTED, THROTTLED, FAILED, PROCESSED, REJECTED) and, for
    ADVANCED messages, whether the citizen read it (READ, UNREAD, UNAVAILABLE)."""

    status: str
    read_status: str = "UNAVAILABLE"


class AppIoClient:
    platform = "appio"

    @classmethod
    def from_config(cls, source: Any) -> AppIoClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of a PlatformConfig."""
        cfg = config.resolve(cls.platform, source)
        return cls(cfg.base_url, api_key=cfg.credential("api_key"), timeout=cfg.timeout)

    def __init__(self, base_url: str, *, api_key: str, timeout: tuple[float, float] = (5.0, 30.0),
                 validate_responses: bool = True) -> None:
        self.validate_responses = validate_responses
        self.http = HttpClient(base_url, platform="App IO", timeout=timeout,
                               default_headers={"Ocp-Apim-Subscription-Key": api_key})

    def get_profile(self, fiscal_code: str) -> Profile:
        body = {"fiscal_code": fiscal_code}
        check_request(SPEC, "post", "/profiles", body)
        response = self.http.request("POST", "/profiles", json=body, allowed_statuses=(404,))
        if response.status == 404:
            return Profile(on_io=False, sender_allowed=False)
        data = response.json()
        if self.validate_responses:
            check_response(SPEC, "post", "/profiles", 200, data)
        return Profile(on_io=True, sender_allowed=bool(data["sender_allowed"]),
                       preferred_languages=tuple(data.get("preferred_languages") or ()))

    def submit_message(self, fiscal_code: str, *, subject: str, markdown: str,
                       payment_data: dict[str, Any] | None = None, due_date: str | None = None,
                       feature_level_type: str = "STANDARD") -> str:
        validate_content(subject, markdown)
        content: dict[str, Any] = {"subject": subject, "markdown": markdown}
        if payment_data:
            content["payment_data"] = payment_data
        if due_date:
            content["due_date"] = due_date
        message = {"fiscal_code": fiscal_code, "content": content, "feature_level_type": feature_level_type}
        check_request(SPEC, "post", "/messages", message)
        response = self.http.request("POST", "/messages", json=message)
        data = response.json()
        if self.validate_responses:
            check_response(SPEC, "post", "/messages", response.status, data)
        return str(data["id"])

    def get_message(self, fiscal_code: str, message_id: str) -> MessageStatus | None:
        """getMessage (GET /messages/{fiscal_code}/{id}); None when App IO does not know it."""
        path = f"/messages/{fiscal_code}/{message_id}"
        response = self.http.request("GET", path, allowed_statuses=(404,))
        if response.status == 404:
            return None
        data = response.json()
        if self.validate_responses:
            check_response(SPEC, "get", "/messages/{fiscal_code}/{id}", 200, data)
        return MessageStatus(status=str(data.get("status") or "ACCEPTED"),
                             read_status=str(data.get("read_status") or "UNAVAILABLE"))
