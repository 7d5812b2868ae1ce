"""Seals: the anchor of each audit chain.

The hash chain shows an event altered or removed in the middle, but someone able to delete
rows can also delete the newest events (or the whole chain) and rewind the chain head. A seal
is a signed statement "chain K had reached seq N with hash H at time T", written to its own
append-only table every PROCEDO_AUDIT_SEAL_INTERVAL minutes; `verify_audit` checks each seal's
signature and that the chain still holds event N with hash H.

The key is the tenant's electronic seal (the protocol connector's `seal_key_pem` /
`seal_cert_pem` credentials) when configured, else the documents signer for the role
`audit_seal`, else the `default` signer (PROCEDO_DOCUMENTS_SIGNERS; the demo PKI in demo and
tests). Signature: RSA PKCS#1 v1.5 / ECDSA / Ed25519 with SHA-256 over a canonical JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils.translation import gettext as _

from common.errors import ConfigurationError
from common.keys import private_key_from_pem


@dataclass(frozen=True)
class SealKey:
    key: Any
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def seal_payload(*, chain_key: str, seq: int, hash: str, event_created_at: dt.datetime, sealed_at: dt.datetime) -> bytes:  # noqa: A002
    def iso(value: dt.datetime) -> str:
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")

    body = {"v": 1, "chain_key": chain_key, "seq": int(seq), "hash": hash, "event_created_at": iso(event_created_at),
            "sealed_at": iso(sealed_at)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa-pkcs1v15-sha256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa-sha256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    raise ConfigurationError(_("Tipo di chiave non supportato per il sigillo del registro di audit."))


def sign(data: bytes, seal_key: SealKey) -> tuple[str, str]:
    """(algorithm, base64 signature)."""
    key = seal_key.key
    algorithm = _algorithm(key)
    if algorithm == "rsa-pkcs1v15-sha256":
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif algorithm == "ecdsa-sha256":
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(data)
    return algorithm, base64.b64encode(signature).decode("ascii")


def signature_problem(data: bytes, *, algorithm: str, signature_b64: str, certificate_pem: str) -> str | None:
    """None if `signature_b64` is a valid signature of `data` by the certificate's key; else why not."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return "unreadable certificate or signature"
    public = cert.public_key()
    try:
        if _algorithm(public) != algorithm:
            return f"algorithm {algorithm!r} does not match the certificate's key"
        if algorithm == "rsa-pkcs1v15-sha256":
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "ecdsa-sha256":
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            public.verify(signature, data)
    except (InvalidSignature, ConfigurationError):
        return "signature does not verify"
    return None


def fingerprint(certificate_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    return cert.fingerprint(hashes.SHA256()).hex()


def retired_certificates_pem() -> list[str]:
    """Earlier seal certificates (after a key change) whose seals are still trusted."""
    from django.conf import settings

    return [Path(path).read_text(encoding="ascii") for path in getattr(settings, "PROCEDO_AUDIT_SEAL_RETIRED_CERTS", [])]


def _from_protocol_seal(tenant) -> SealKey | None:
    if tenant is None:
        return None
    from connectors.base.config import credentials  # noqa: PLC0415 - audit does not load connectors at import

    creds = credentials("protocollo", tenant)
    if not (creds.get("seal_key_pem") and creds.get("seal_cert_pem")):
        return None
    key = private_key_from_pem(creds["seal_key_pem"].encode())
    return SealKey(key, x509.load_pem_x509_certificate(creds["seal_cert_pem"].encode()))


def _from_documents_signer() -> SealKey | None:
    from documents import conf  # noqa: PLC0415

    config = conf.signer_config()
    entry = config.get("audit_seal") or config.get("default")
    if not entry or entry.get("kind", "pkcs12") != "pkcs12" or not Path(entry.get("path", "")).is_file():
        return None
    passphrase = entry.get("passphrase", "")
    key, cert, _chain = pkcs12.load_key_and_certificates(
        Path(entry["path"]).read_bytes(), passphrase.encode() if passphrase else None
    )
    if key is None or cert is None:
        return None
    return SealKey(key, cert)


def seal_key_for(tenant) -> SealKey:
    """The key that seals (and the certificate that must have sealed) this tenant's chain."""
    found = _from_protocol_seal(tenant) or _from_documents_signer()
    if found is None:
        raise ConfigurationError(
            _("Nessuna chiave di sigillo configurata per il registro di audit (PROCEDO_DOCUMENTS_SIGNERS)."),
        )
    return found
