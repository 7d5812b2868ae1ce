"""Secrets at rest: values encrypted with Fernet (AES-128-CBC + HMAC-SHA256) before they reach the database.

Keys come from `PROCEDO_SECRETS_KEYS` (comma-separated Fernet keys, newest first: rotating a key
means putting the new one in front; old rows still decrypt and are re-encrypted on save). Without
it, a key is derived from SECRET_KEY, which is enough for the demo and for tests; production
refuses to start without PROCEDO_SECRETS_KEYS (config/production.py), and this module refuses too.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.utils.translation import gettext as _

from .errors import ConfigurationError

PREFIX = "fernet:"


@cache
def _fernet(keys: str, secret_key: str) -> MultiFernet:
    if keys.strip():
        try:
            return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(_("PROCEDO_SECRETS_KEYS non contiene chiavi Fernet valide.")) from exc
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"procedo-secrets", info=b"connector-credentials")
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived.derive(secret_key.encode())))])


def fernet() -> MultiFernet:
    if getattr(settings, "PROCEDO_FAIL_CLOSED", False) and not (getattr(settings, "PROCEDO_SECRETS_KEYS", "") or "").strip():
        raise ConfigurationError(_("PROCEDO_SECRETS_KEYS non è impostata: in produzione le credenziali non si cifrano "
                                   "con una chiave derivata da SECRET_KEY."))
    return _fernet(getattr(settings, "PROCEDO_SECRETS_KEYS", "") or "", settings.SECRET_KEY)


def encrypt_json(value: Any) -> str:
    return PREFIX + fernet().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def decrypt_json(text: str | None) -> Any:
    if not text:
        return {}
    if not text.startswith(PREFIX):
        return json.loads(text)  # written before encryption existed
    try:
        return json.loads(fernet().decrypt(text[len(PREFIX):].encode()))
    except InvalidToken as exc:
        raise ConfigurationError(
            _("Le credenziali salvate non si possono decifrare: la chiave PROCEDO_SECRETS_KEYS è cambiata?")
        ) from exc


class EncryptedJSONField(models.TextField):
    """A JSON value stored encrypted; Python code sees the plain dict."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return decrypt_json(value) if value.startswith(PREFIX) else json.loads(value or "{}")
        return value if value is not None else {}

    def get_prep_value(self, value: Any) -> str:
        return encrypt_json(value if value is not None else {})
