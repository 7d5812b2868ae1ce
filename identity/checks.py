"""Fail at start, not at the first citizen's login: the identity providers' metadata must parse, and an
SP that trusts any must have its key and certificate (in production nobody generates them for it)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register


@register()
def identity_configuration(app_configs=None, **kwargs) -> list[Error]:
    from .idps import _load
    from .saml import XmlError

    errors: list[Error] = []
    entries = tuple(settings.PROCEDO_SPID_IDP_METADATA)
    try:
        _load(entries)
    except (OSError, XmlError) as exc:
        errors.append(Error(f"PROCEDO_SPID_IDP_METADATA cannot be read: {exc}", id="identity.E001"))
    if entries and settings.PROCEDO_ENV == "production":
        for name in ("PROCEDO_SPID_KEY_FILE", "PROCEDO_SPID_CERT_FILE"):
            if not Path(getattr(settings, name)).is_file():
                errors.append(Error(f"{name} does not exist: the SP cannot sign its requests", id="identity.E002"))
    return errors
