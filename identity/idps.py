"""The identity providers this SP trusts: their entity ID, single sign-on URL and signing certificates.

Read from SAML metadata files named in PROCEDO_SPID_IDP_METADATA (an entry may be prefixed with the
scheme, `cie=/path` or `eidas=/path`; plain paths are SPID), plus the local demo IdP when enabled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .saml import BINDING_REDIRECT, NS, body_to_pem, parse_xml, q

SCHEMES = ("spid", "cie", "eidas")


@dataclass(frozen=True)
class IdentityProvider:
    entity_id: str
    name: str
    sso_url: str
    certs: tuple[str, ...]
    scheme: str = "spid"
    slo_url: str = ""  # SingleLogoutService, HTTP-Redirect binding (empty: local logout only)


def _parse(path: Path, scheme: str) -> list[IdentityProvider]:
    root = parse_xml(path.read_bytes())
    found = []
    entities = [root] if root.tag == q("md", "EntityDescriptor") else root.iter(q("md", "EntityDescriptor"))
    for entity in entities:
        descriptor = entity.find(q("md", "IDPSSODescriptor"))
        if descriptor is None:
            continue
        sso = next((s.get("Location") for s in descriptor.findall(q("md", "SingleSignOnService"))
                    if s.get("Binding") == BINDING_REDIRECT), None)
        slo = next((s.get("Location") for s in descriptor.findall(q("md", "SingleLogoutService"))
                    if s.get("Binding") == BINDING_REDIRECT), "")
        certs = tuple(
            body_to_pem(c.text or "")
            for kd in descriptor.findall(q("md", "KeyDescriptor")) if kd.get("use") in (None, "signing")
            for c in kd.iterfind(".//ds:X509Certificate", NS)
        )
        name_el = entity.find("md:Organization/md:OrganizationDisplayName", NS)
        name = (name_el.text or "").strip() if name_el is not None else entity.get("entityID")
        if sso and certs:
            found.append(IdentityProvider(entity_id=entity.get("entityID"), name=name, sso_url=sso,
                                          certs=certs, scheme=scheme, slo_url=slo or ""))
    return found


def demo_idp_enabled() -> bool:
    """The demo IdP exists only outside production, whatever the flag says."""
    return bool(settings.PROCEDO_SPID_DEMO_IDP) and settings.PROCEDO_ENV != "production"


@functools.lru_cache(maxsize=8)
def _load(entries: tuple[str, ...]) -> tuple[IdentityProvider, ...]:
    out: list[IdentityProvider] = []
    for entry in entries:
        scheme, sep, path = entry.partition("=")
        if not sep or scheme not in SCHEMES:
            scheme, path = "spid", entry
        out.extend(_parse(Path(path), scheme))
    return tuple(out)


def identity_providers() -> list[IdentityProvider]:
    idps = list(_load(tuple(settings.PROCEDO_SPID_IDP_METADATA)))
    if demo_idp_enabled():
        from .demo_idp.idp import demo_identity_provider

        idps.append(demo_identity_provider())
    return idps


def identity_provider(entity_id: str) -> IdentityProvider | None:
    return next((idp for idp in identity_providers() if idp.entity_id == entity_id), None)
