"""Private keys parsed once per process.

Loading a PEM RSA key checks its consistency (cryptography's RSA key validation), which costs ~180 ms of CPU
for the demo's keys: far more than the signature itself. The SPID AuthnRequest, the protocol's XAdES seal
and the audit seal sign with the same few keys again and again, so the parsed key is kept, keyed by the PEM
bytes (a rotated key is new bytes, hence a new entry). Key objects are immutable; an unreadable PEM raises
as before and is not remembered.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


@lru_cache(maxsize=32)
def private_key_from_pem(pem: bytes) -> PrivateKeyTypes:
    """The private key of an unencrypted PEM (ValueError/TypeError when it is not one)."""
    return serialization.load_pem_private_key(pem, password=None)
