"""CNS (Carta Nazionale dei Servizi) login: a TLS client certificate from the citizen's smart card.

TLS ends at the reverse proxy, which verifies the certificate against the CNS certification authorities
and forwards it, URL-encoded PEM, with its verdict (nginx: `$ssl_client_escaped_cert`,
`$ssl_client_verify`). Those headers are believed only when the request comes straight from a
configured proxy address: from anywhere else anyone could type them. The fiscal code is in the
subject: commonName `<fiscal code>/<card number>.<hash>` (DPR 117/2004, CNS profile), or a
serialNumber `TINIT-<fiscal code>` in newer cards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.http import HttpRequest

from common import clock

from .services import fiscal_code_from_attribute
from .validator import ResponseRefused, ValidatedAssertion

# Smart card + PIN: two factors, like SPID level 2 (recorded conservatively as that level).
CNS_LEVEL = "SpidL2"


def cns_enabled() -> bool:
    return bool(settings.PROCEDO_CNS_PROXY_ADDRESSES)


def _from_trusted_proxy(request: HttpRequest) -> bool:
    try:
        remote = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in settings.PROCEDO_CNS_PROXY_ADDRESSES:
        try:
            if remote in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _meta_name(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _fiscal_code(cert: x509.Certificate) -> str:
    serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if serials and str(serials[0].value).upper().startswith("TINIT-"):
        return fiscal_code_from_attribute(str(serials[0].value))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return fiscal_code_from_attribute("TINIT-" + str(names[0].value).split("/", 1)[0])
    raise ResponseRefused("cns_subject", "no fiscal code in the certificate")


def cns_identity(request: HttpRequest) -> ValidatedAssertion:
    """The citizen the proxy vouches for, or ResponseRefused."""
    if not cns_enabled() or not _from_trusted_proxy(request):
        raise ResponseRefused("cns_untrusted", "not from the configured proxy")
    if request.META.get(_meta_name(settings.PROCEDO_CNS_VERIFY_HEADER)) != "SUCCESS":
        raise ResponseRefused("cns_unverified", "the proxy did not verify a client certificate")
    pem = urllib.parse.unquote(request.META.get(_meta_name(settings.PROCEDO_CNS_CERT_HEADER), ""))
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ResponseRefused("cns_certificate", "unreadable certificate") from exc
    now = clock.now()
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise ResponseRefused("cns_certificate", "certificate not valid now")
    fiscal_code = _fiscal_code(cert)
    given = cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
    family = cert.subject.get_attributes_for_oid(NameOID.SURNAME)
    fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    return ValidatedAssertion(
        assertion_id=f"cns-{fingerprint}-{now.timestamp():.0f}", idp_entity_id="cns", level=CNS_LEVEL,
        name_id=fingerprint, name_qualifier="cns", session_index="", not_on_or_after=now + dt.timedelta(minutes=5),
        attributes={"fiscalNumber": f"TINIT-{fiscal_code}", "name": str(given[0].value) if given else "",
                    "familyName": str(family[0].value) if family else ""},
    )
