"""pagoPA GPD (Gestione Posizioni Debitorie) REST client, API v1.

Paths and payloads: openapi/openapi_external_v1.json (createPosition,
publishPosition, invalidatePosition, getOrganizationDebtPositionByIUPD). Auth: `Ocp-Apim-Subscription-Key`.
"""

from __future__ import annotations

from typing import Any

from ..base import config
from ..base.http import HttpClient
from ..base.openapi import check_request, check_response

SPEC = "pagopa/openapi/openapi_external_v1.json"
POSITIONS = "/organizations/{organizationfiscalcode}/debtpositions"
POSITION = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}"
PUBLISH = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/publish"
# pagoPA Checkout, API for creditor institutions ("ec"): a cart of notices; the answer is a 302 to
# the checkout page the citizen's browser is sent to, which returns to one of `returnUrls`.
CARTS = "/checkout/ec/v1/carts"
INVALIDATE = "/organizations/{organizationfiscalcode}/debtpositions/{iupd}/invalidate"


class GpdClient:
    platform = "pagopa"

    @classmethod
    def from_config(cls, source: Any) -> GpdClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of a PlatformConfig."""
        cfg = config.resolve(cls.platform, source)
        return cls(cfg.base_url, api_key=cfg.credential("api_key"),
                   organization_fiscal_code=cfg.credential("organization_fiscal_code"), timeout=cfg.timeout)

    def __init__(self, base_url: str, *, api_key: str, organization_fiscal_code: str,
                 timeout: tuple[float, float] = (5.0, 30.0), validate_responses: bool = True) -> None:
        self.org = organization_fiscal_code
        self.validate_responses = validate_responses
        self.http = HttpClient(
            base_url,
            platform="pagoPA GPD",
            timeout=timeout,
            default_headers={"Ocp-Apim-Subscription-Key": api_key},
        )

    def _check(self, method: str, path: str, status: int, body: Any) -> Any:
        if self.validate_responses:
            check_response(SPEC, method, path, status, body)
        return body

    def create_position(self, position: dict[str, Any], *, publish: bool = True) -> dict[str, Any]:
        check_request(SPEC, "post", POSITIONS, position)
        response = self.http.request(
            "POST", POSITIONS.format(organizationfiscalcode=self.org),
            json=position, params={"toPublish": "true" if publish else "false"},
        )
        return self._check("post", POSITIONS, response.status, response.json())

    def publish_position(self, iupd: str) -> dict[str, Any]:
        response = self.http.request("POST", PUBLISH.format(organizationfiscalcode=self.org, iupd=iupd))
        return self._check("post", PUBLISH, response.status, response.json())

    def invalidate_position(self, iupd: str) -> dict[str, Any]:
        """VALID/PUBLISHED -> INVALID: the notice can no longer be paid. 409 when not invalidable
        (already paid, invalid or expired), 404 when unknown: PlatformRefused, the caller reads back."""
        response = self.http.request("POST", INVALIDATE.format(organizationfiscalcode=self.org, iupd=iupd))
        return self._check("post", INVALIDATE, response.status, response.json())

    def get_position(self, iupd: str) -> dict[str, Any] | None:
        response = self.http.request(
            "GET", POSITION.format(organizationfiscalcode=self.org, iupd=iupd), allowed_statuses=(404,)
        )
        if response.status == 404:
            return None
        return self._check("get", POSITION, response.status, response.json())


class CheckoutClient:
    """pagoPA Checkout for creditor institutions: `cart_create` gives the page where the citizen pays."""

    platform = "pagopa"

    @classmethod
    def from_config(cls, source: Any) -> CheckoutClient:
        cfg = config.resolve(cls.platform, source)
        base = cfg.credential("checkout_base_url") or cfg.base_url
        return cls(base, api_key=cfg.credential("checkout_api_key") or cfg.credential("api_key"), timeout=cfg.timeout)

    def __init__(self, base_url: str, *, api_key: str, timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.http = HttpClient(base_url, platform="pagoPA Checkout", timeout=timeout,
                               default_headers={"Ocp-Apim-Subscription-Key": api_key})

    def cart_create(self, *, notices: list[dict[str, Any]], return_ok: str, return_cancel: str, return_error: str,
                    email: str = "") -> str:
        """notices: [{noticeNumber, fiscalCode (the creditor's), amount (cents), companyName, description}].
        Returns the checkout page's URL (the 302's Location)."""
        body: dict[str, Any] = {
            "paymentNotices": notices,
            "returnUrls": {"returnOkUrl": return_ok, "returnCancelUrl": return_cancel, "returnErrorUrl": return_error},
        }
        if email:
            body["emailNotice"] = email
        response = self.http.request("POST", CARTS, json=body, allowed_statuses=(302,))
        location = response.headers.get("location", "")
        if response.status != 302 or not location.startswith(("http://", "https://")):
            from ..base.errors import InvalidResponse

            raise InvalidResponse("pagoPA Checkout did not answer with the checkout page", details={"status": response.status})
        return location
