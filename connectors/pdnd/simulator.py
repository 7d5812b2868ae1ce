"""PDND Interoperabilità authorization server simulator.

- `POST /token.oauth2`: checks the client assertion the way PDND does (signature
  with the key registered under its `kid`, `iss` = `sub` = client id, `aud`, `exp`,
  `iat`, `jti` never seen before, `purposeId`, grant and assertion types) and issues
  a voucher JWT signed with the simulator's own key, carrying `purposeId` and the
  assertion's `digest` (AUDIT_REST_02 binding);
- `GET /.well-known/jwks.json`: the public key vouchers are signed with (what an
  e-service provider such as the ANPR simulator verifies them with);
- `GET /keys/{kid}`: a client's registered public key (providers verify
  `Agid-JWT-Signature` / `Agid-JWT-TrackingEvidence` with it).

Clients are registered through `register_client()` (tests) or found in the demo
keys folder (`connectors.pdnd.keys.demo_keys_dir()`: `<kid>.pub.pem` + `<kid>.client`).
Errors follow the spec's `Problem` shape (status, title, type, errors[code, detail]).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..base.simulator import SimulatorApp, json_response
from .keys import public_jwk, rsa_thumbprint
from .voucher import ASSERTION_TYPE

DEFAULT_VOUCHER_TTL = 600  # the spec caps expires_in at 600


def _problem(status: int, title: str, code: str, detail: str) -> Response:
    return json_response(
        {"type": "about:blank", "status": status, "title": title, "detail": detail,
         "errors": [{"code": code, "detail": detail}]},
        status, content_type="application/json",
    )


class PdndSimulator(SimulatorApp):
    platform = "pdnd"

    def __init__(self, *, keys_dir: Path | None = None, voucher_audience: str = "procedo-simulated-eservices",
                 assertion_audience: str | None = None) -> None:
        self.keys_dir = keys_dir
        self.voucher_audience = voucher_audience
        self.assertion_audience = assertion_audience  # None = accept the token URL the request came to
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_kid = rsa_thumbprint(self.signing_key.public_key())
        self.issuer = "simulated-pdnd"
        super().__init__()

    def rules(self) -> list[Rule]:
        return [
            Rule("/token.oauth2", endpoint="token", methods=["POST"]),
            Rule("/.well-known/jwks.json", endpoint="jwks", methods=["GET"]),
            Rule("/keys/<kid>", endpoint="client_key", methods=["GET"]),
            Rule("/status", endpoint="status", methods=["GET"]),
        ]

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.clients: dict[str, tuple[str, rsa.RSAPublicKey]] = {}
            self.seen_jti: set[str] = set()
            self.voucher_ttl = DEFAULT_VOUCHER_TTL
            self.issued: list[dict[str, Any]] = []

    # --- registry ---
    def register_client(self, client_id: str, public_key: rsa.RSAPublicKey, kid: str | None = None) -> str:
        kid = kid or rsa_thumbprint(public_key)
        with self.lock:
            self.clients[kid] = (client_id, public_key)
        return kid

    def client_for(self, kid: str) -> tuple[str, rsa.RSAPublicKey] | None:
        with self.lock:
            found = self.clients.get(kid)
        if found is not None or self.keys_dir is None:
            return found
        pem = self.keys_dir / f"{kid}.pub.pem"
        client_file = self.keys_dir / f"{kid}.client"
        if "/" in kid or not pem.exists() or not client_file.exists():
            return None
        key = serialization.load_pem_public_key(pem.read_bytes())
        if not isinstance(key, rsa.RSAPublicKey):
            return None
        self.register_client(client_file.read_text().strip(), key, kid)
        return self.clients[kid]

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.signing_key.public_key()

    # --- endpoints ---
    def on_status(self, request: Request) -> Response:
        return json_response({"type": "about:blank", "status": 200, "title": "OK", "errors": []},
                             content_type="application/problem+json")

    def on_jwks(self, request: Request) -> Response:
        return json_response({"keys": [public_jwk(self.public_key, self.signing_kid)]})

    def on_client_key(self, request: Request, kid: str) -> Response:
        found = self.client_for(kid)
        if found is None:
            return _problem(404, "Key not found", "404-0001", f"no client key with kid {kid}")
        return json_response(public_jwk(found[1], kid))

    def on_token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _problem(400, "Bad request", "400-0001", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _problem(400, "Bad request", "400-0002", "unsupported client_assertion_type")
        assertion = form.get("client_assertion") or ""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return _problem(400, "Bad request", "400-0003", "client_assertion is not a JWS")
        if header.get("alg") != "RS256" or not header.get("kid"):
            return _problem(400, "Bad request", "400-0004", "client_assertion must be RS256 with a kid")
        found = self.client_for(str(header["kid"]))
        if found is None:
            return _problem(401, "Unauthorized", "401-0001", "unknown kid")
        client_id, public_key = found
        audience = self.assertion_audience or request.base_url
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=audience,
                                options={"require": ["iss", "sub", "aud", "jti", "iat", "exp"]}, leeway=5)
        except jwt.PyJWTError as exc:
            return _problem(401, "Unauthorized", "401-0002", f"client_assertion refused: {exc}")
        if claims["iss"] != client_id or claims["sub"] != client_id or form.get("client_id", client_id) != client_id:
            return _problem(401, "Unauthorized", "401-0003", "iss/sub/client_id do not match the key's client")
        if not claims.get("purposeId"):
            return _problem(400, "Bad request", "400-0005", "purposeId missing")
        if claims["exp"] - claims["iat"] > 24 * 3600:
            return _problem(400, "Bad request", "400-0006", "client_assertion lives too long")
        with self.lock:
            if claims["jti"] in self.seen_jti:
                return _problem(401, "Unauthorized", "401-0004", "client_assertion jti already used")
            self.seen_jti.add(claims["jti"])
            ttl = self.voucher_ttl
        now = int(time.time())
        voucher_claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.voucher_audience, "sub": client_id, "client_id": client_id,
            "purposeId": claims["purposeId"], "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + ttl,
        }
        if claims.get("digest"):
            voucher_claims["digest"] = claims["digest"]
        token = jwt.encode(voucher_claims, self.signing_key, algorithm="RS256",
                           headers={"kid": self.signing_kid, "typ": "at+jwt"})
        with self.lock:
            self.issued.append(voucher_claims)
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl},
                             headers={"Cache-Control": "no-cache, no-store"})


def create_app() -> PdndSimulator:
    from .keys import demo_keys_dir  # noqa: PLC0415 - needs settings

    return PdndSimulator(keys_dir=demo_keys_dir())
