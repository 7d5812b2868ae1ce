"""PDND Interoperabilità: the voucher (access token) and the ModI headers.

Voucher: a client assertion JWT signed RS256 with the tenant's key (header `kid`,
`alg`, `typ`; claims iss, sub, aud, jti, iat, exp, purposeId and, when the call
carries AUDIT_REST_02 tracking evidence, `digest` = SHA-256 of that evidence) is
exchanged at `/token.oauth2` for a voucher (`client_credentials` grant, form
encoded, spec `openapi/pdnd-v1.yaml`). Vouchers are cached per (token URL,
client, purpose, digest) until `REFRESH_MARGIN` seconds before they expire.

ModI headers on every REST call to an e-service:
- INTEGRITY_REST_02: `Digest: SHA-256=<base64>` of the body and `Agid-JWT-Signature`,
  a JWT whose `signed_headers` claim lists that digest and the content type;
- AUDIT_REST_02: `Agid-JWT-TrackingEvidence` with userID, userLocation, LoA (who in
  the comune caused the call), bound to the voucher through the `digest` claim.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.utils.translation import gettext as _

from ..base.errors import ConnectorUnavailable, InvalidResponse, PlatformRefused
from ..base.http import HttpClient
from ..base.openapi import check_request, check_response
from .keys import ClientKey

SPEC = "pdnd/openapi/pdnd-v1.yaml"
TOKEN_PATH = "/token.oauth2"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_TTL = 300  # seconds a client assertion is valid
MODI_TTL = 300  # seconds a ModI header JWT is valid
REFRESH_MARGIN = 60  # renew a cached voucher this long before it expires


def _now() -> int:
    return int(time.time())


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def body_digest(body: bytes) -> str:
    """The `Digest` header value of INTEGRITY_REST_02 (RFC 3230 style)."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def _sign(key: ClientKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def client_assertion(key: ClientKey, *, audience: str, purpose_id: str, digest: str | None = None) -> str:
    now = _now()
    claims: dict[str, Any] = {
        "iss": key.client_id, "sub": key.client_id, "aud": audience, "jti": str(uuid.uuid4()),
        "iat": now, "exp": now + ASSERTION_TTL, "purposeId": purpose_id,
    }
    if digest:
        claims["digest"] = {"alg": "SHA256", "value": digest}
    return _sign(key, claims)


def tracking_evidence(key: ClientKey, *, audience: str, purpose_id: str, user_id: str, user_location: str,
                      loa: str) -> str:
    now = _now()
    return _sign(key, {
        "iss": key.client_id, "aud": audience, "purposeId": purpose_id, "jti": str(uuid.uuid4()),
        "dnonce": secrets.randbelow(10**13), "iat": now, "nbf": now, "exp": now + MODI_TTL,
        "userID": user_id, "userLocation": user_location, "LoA": loa,
    })


def integrity_signature(key: ClientKey, *, audience: str, digest: str, content_type: str) -> str:
    now = _now()
    return _sign(key, {
        "iss": key.client_id, "sub": key.client_id, "aud": audience, "jti": str(uuid.uuid4()),
        "iat": now, "nbf": now, "exp": now + MODI_TTL,
        "signed_headers": [{"digest": digest}, {"content-type": content_type}],
    })


@dataclass(frozen=True)
class Voucher:
    access_token: str
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.expires_at - REFRESH_MARGIN


_cache: dict[tuple[str, str, str, str], Voucher] = {}
_cache_lock = threading.Lock()


def forget_vouchers() -> None:
    with _cache_lock:
        _cache.clear()


class VoucherClient:
    """Obtains (and caches) PDND vouchers for one tenant's client key."""

    def __init__(self, token_url: str, key: ClientKey, *, assertion_audience: str | None = None,
                 timeout: tuple[float, float] = (5.0, 15.0)) -> None:
        base, _sep, path = token_url.rstrip("/").rpartition(TOKEN_PATH)
        self.base_url = base if _sep else token_url.rstrip("/")
        self.token_url = self.base_url + TOKEN_PATH
        self.key = key
        self.assertion_audience = assertion_audience or self.token_url
        self.http = HttpClient(self.base_url, platform="PDND", timeout=timeout)

    def _cache_key(self, purpose_id: str, digest: str | None) -> tuple[str, str, str, str]:
        return (self.token_url, self.key.client_id, purpose_id, digest or "")

    def invalidate(self, purpose_id: str, digest: str | None = None) -> None:
        with _cache_lock:
            _cache.pop(self._cache_key(purpose_id, digest), None)

    def voucher(self, purpose_id: str, *, digest: str | None = None) -> Voucher:
        cache_key = self._cache_key(purpose_id, digest)
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None and cached.fresh():
            return cached
        form = {
            "client_id": self.key.client_id,
            "client_assertion": client_assertion(self.key, audience=self.assertion_audience,
                                                 purpose_id=purpose_id, digest=digest),
            "client_assertion_type": ASSERTION_TYPE,
            "grant_type": "client_credentials",
        }
        check_request(SPEC, "post", TOKEN_PATH, form)
        response = self.http.request("POST", TOKEN_PATH, data=form, allowed_statuses=(400, 401, 429))
        body = response.json()
        if response.status in (400, 401):
            check_response(SPEC, "post", TOKEN_PATH, response.status, body)
            errors = body.get("errors") or [{}]
            raise PlatformRefused(
                _("PDND ha rifiutato la richiesta di voucher: %(detail)s")
                % {"detail": body.get("detail") or body.get("title")},
                platform_code=errors[0].get("code"), details={"status": response.status},
            )
        if response.status == 429:
            raise ConnectorUnavailable(_("PDND ha rifiutato temporaneamente la richiesta (troppe richieste)."))
        check_response(SPEC, "post", TOKEN_PATH, response.status, body)
        try:
            token = str(body["access_token"])
            expires_in = int(body["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponse(_("Il voucher PDND ricevuto non è leggibile.")) from exc
        voucher = Voucher(access_token=token, expires_at=time.time() + expires_in)
        with _cache_lock:
            _cache[cache_key] = voucher
        return voucher
