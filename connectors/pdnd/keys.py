"""The tenant's PDND client key: the RSA key whose public half is registered on PDND.

A tenant's `ConnectorConfig` for platform "pdnd" carries `client_id`, `purpose_ids`
(per e-service), `kid` and either `private_key_pem` or `private_key_path`. In demo
mode (no configuration) each tenant gets a key generated on first use under
`var/pdnd/<istat>.key` (mode 0600, never committed), with its public half beside it
(`<kid>.pub.pem`): the PDND simulator reads that folder the way PDND keeps the keys
uploaded by each client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils.translation import gettext as _

from common.errors import ConfigurationError
from common.keys import private_key_from_pem

_lock = threading.Lock()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable `kid` derived from the key itself."""
    numbers = public_key.public_numbers()
    jwk = {
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "kty": "RSA",
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
    }
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


@dataclass(frozen=True)
class ClientKey:
    client_id: str
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def demo_keys_dir() -> Path:
    return Path(getattr(settings, "PROCEDO_PDND_KEYS_DIR", "") or (Path(settings.VAR_DIR) / "pdnd"))


def load_private_key(pem: bytes, *, source: str) -> rsa.RSAPrivateKey:
    try:
        key = private_key_from_pem(pem)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            _("La chiave privata PDND non è leggibile (%(source)s).") % {"source": source}
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ConfigurationError(
            _("La chiave PDND deve essere RSA di almeno 2048 bit (%(source)s).") % {"source": source}
        )
    return key


@cache
def _demo_key(tenant_code: str, folder: str) -> ClientKey:
    directory = Path(folder)
    path = directory / f"{tenant_code}.key"
    with _lock:
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(str(path) + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            os.replace(str(path) + ".tmp", path)
        key = load_private_key(path.read_bytes(), source=str(path))
        kid = rsa_thumbprint(key.public_key())
        public = directory / f"{kid}.pub.pem"
        if not public.exists():
            public.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            (directory / f"{kid}.client").write_text(f"demo-client-{tenant_code}")
    return ClientKey(client_id=f"demo-client-{tenant_code}", kid=kid, private_key=key)


def client_key(credentials: dict, tenant_code: str) -> ClientKey:
    """The key a tenant signs PDND assertions and ModI headers with."""
    pem = credentials.get("private_key_pem")
    path = credentials.get("private_key_path")
    if pem or path:
        source = "private_key_pem" if pem else str(path)
        try:
            data = pem.encode() if isinstance(pem, str) else Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                _("La chiave privata PDND non è leggibile (%(source)s).") % {"source": source}
            ) from exc
        key = load_private_key(data, source=source)
        client_id = str(credentials.get("client_id") or "")
        if not client_id:
            raise ConfigurationError(_("Manca il client_id PDND nella configurazione dell'ente."))
        return ClientKey(client_id=client_id, kid=str(credentials.get("kid") or rsa_thumbprint(key.public_key())),
                         private_key=key)
    return _demo_key(tenant_code or "demo", str(demo_keys_dir()))
