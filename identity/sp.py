"""Procedo as a SPID service provider: its metadata and its AuthnRequests (SPID technical rules,
Regole tecniche SPID and Avvisi AgID n. 19, 29)."""

from __future__ import annotations

import base64
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from lxml import etree

from common import clock
from common.keys import private_key_from_pem

from .certs import sp_certificate_create
from .idps import IdentityProvider
from .levels import LEVELS
from .saml import (
    BINDING_POST,
    BINDING_REDIRECT,
    NAMEID_ENTITY,
    NAMEID_TRANSIENT,
    NS,
    RSA_SHA256,
    format_instant,
    pem_body,
    q,
    redirect_encode,
    sign_document,
    signature_template,
)

# AttributeConsumingService indexes: 0 for SPID/CIE citizens; 99 and 100 for eIDAS through the
# Italian node (FICEP): 99 the minimum data set, 100 the minimum plus the extended one.
ATTRIBUTE_SETS: dict[int, tuple[str, ...]] = {
    0: ("fiscalNumber", "name", "familyName", "dateOfBirth", "email"),
    99: ("spidCode", "name", "familyName", "dateOfBirth"),
    100: ("spidCode", "name", "familyName", "dateOfBirth", "placeOfBirth", "gender", "address"),
}
SERVICE_NAMES = {
    0: "Servizi online demografici",
    99: "eIDAS Natural Person Minimum Attribute Set",
    100: "eIDAS Natural Person Full Attribute Set",
}
EIDAS_INDEXES = (99, 100)
# CIE ID accepts only these attributes, one AttributeConsumingService, and a UUID as ServiceName
# (CIE metadata profile, saml-schema-metadata-sp-cie.xsd).
CIE_ATTRIBUTES = ("fiscalNumber", "name", "familyName", "dateOfBirth")


@dataclass(frozen=True)
class ServiceProvider:
    entity_id: str
    base_url: str
    key_file: Path
    cert_file: Path

    @property
    def acs_url(self) -> str:
        return f"{self.base_url}/spid/acs/"

    @property
    def slo_url(self) -> str:
        return f"{self.base_url}/spid/slo/"

    def cert_pem(self) -> str:
        return self.cert_file.read_text()


def service_provider() -> ServiceProvider:
    return ServiceProvider(entity_id=settings.PROCEDO_SPID_ENTITY_ID, base_url=settings.PROCEDO_SPID_BASE_URL,
                           key_file=Path(settings.PROCEDO_SPID_KEY_FILE), cert_file=Path(settings.PROCEDO_SPID_CERT_FILE))


def sp_credentials_ensure() -> ServiceProvider:
    """The demo SP key and certificate, made on first use (never in production: there they are given)."""
    sp = service_provider()
    if not (sp.key_file.exists() and sp.cert_file.exists()):
        if settings.PROCEDO_ENV == "production":
            raise RuntimeError("PROCEDO_SPID_KEY_FILE / PROCEDO_SPID_CERT_FILE are missing")
        sp_certificate_create(key_file=sp.key_file, cert_file=sp.cert_file, common_name=settings.PROCEDO_SPID_ORG_NAME,
                              organization=settings.PROCEDO_SPID_ORG_NAME, ipa_code=settings.PROCEDO_SPID_IPA_CODE,
                              entity_id=sp.entity_id, locality=settings.PROCEDO_SPID_ORG_LOCALITY)
    return sp


def _new_id() -> str:
    # xs:ID must not start with a digit.
    return "_" + secrets.token_hex(20)


def _lang(parent: etree._Element, tag: str, text: str, prefix: str = "md") -> etree._Element:
    el = etree.SubElement(parent, q(prefix, tag))
    el.set("{http://www.w3.org/XML/1998/namespace}lang", "it")
    el.text = text
    return el


def metadata_xml(profile: str = "spid") -> bytes:
    """The signed SP metadata: `spid` with the AgID extensions for a public administration (and the
    eIDAS AttributeConsumingServices 99 and 100), or `cie` with the CIE ID extensions."""
    if profile not in ("spid", "cie"):
        raise ValueError(profile)
    sp = sp_credentials_ensure()
    ext_ns = "cie" if profile == "cie" else "spid"
    root = etree.Element(q("md", "EntityDescriptor"), nsmap={"md": NS["md"], "ds": NS["ds"], ext_ns: NS[ext_ns]},
                         entityID=sp.entity_id, ID=_new_id())
    descriptor = etree.SubElement(root, q("md", "SPSSODescriptor"),
                                  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
                                  AuthnRequestsSigned="true", WantAssertionsSigned="true")
    key = etree.SubElement(descriptor, q("md", "KeyDescriptor"), use="signing")
    x509 = etree.SubElement(etree.SubElement(key, q("ds", "KeyInfo")), q("ds", "X509Data"))
    etree.SubElement(x509, q("ds", "X509Certificate")).text = pem_body(sp.cert_pem())
    etree.SubElement(descriptor, q("md", "SingleLogoutService"), Binding=BINDING_POST, Location=sp.slo_url)
    etree.SubElement(descriptor, q("md", "SingleLogoutService"), Binding=BINDING_REDIRECT, Location=sp.slo_url)
    etree.SubElement(descriptor, q("md", "NameIDFormat")).text = NAMEID_TRANSIENT
    etree.SubElement(descriptor, q("md", "AssertionConsumerService"), index="0", isDefault="true",
                     Binding=BINDING_POST, Location=sp.acs_url)
    sets = {0: CIE_ATTRIBUTES} if profile == "cie" else ATTRIBUTE_SETS
    for index, attributes in sets.items():
        acs = etree.SubElement(descriptor, q("md", "AttributeConsumingService"), index=str(index))
        name = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sp.entity_id}#cie-{index}")) if profile == "cie"
                else SERVICE_NAMES[index])
        _lang(acs, "ServiceName", name)
        for attribute in attributes:
            etree.SubElement(acs, q("md", "RequestedAttribute"), Name=attribute)
    org = etree.SubElement(root, q("md", "Organization"))
    _lang(org, "OrganizationName", settings.PROCEDO_SPID_ORG_NAME)
    _lang(org, "OrganizationDisplayName", settings.PROCEDO_SPID_ORG_NAME)
    _lang(org, "OrganizationURL", settings.PROCEDO_SPID_ORG_URL)
    if profile == "cie":
        contact = etree.SubElement(root, q("md", "ContactPerson"), contactType="administrative")
        ext = etree.SubElement(contact, q("md", "Extensions"))
        etree.SubElement(ext, q("cie", "Public"))
        etree.SubElement(ext, q("cie", "IPACode")).text = settings.PROCEDO_SPID_IPA_CODE
        etree.SubElement(ext, q("cie", "Municipality")).text = settings.PROCEDO_SPID_ORG_MUNICIPALITY
        etree.SubElement(ext, q("cie", "Country")).text = "IT"
        etree.SubElement(contact, q("md", "Company")).text = settings.PROCEDO_SPID_ORG_NAME
    else:
        contact = etree.SubElement(root, q("md", "ContactPerson"), contactType="other")
        ext = etree.SubElement(contact, q("md", "Extensions"))
        etree.SubElement(ext, q("spid", "IPACode")).text = settings.PROCEDO_SPID_IPA_CODE
        etree.SubElement(ext, q("spid", "Public"))
    etree.SubElement(contact, q("md", "EmailAddress")).text = settings.PROCEDO_SPID_CONTACT_EMAIL
    etree.SubElement(contact, q("md", "TelephoneNumber")).text = settings.PROCEDO_SPID_CONTACT_PHONE
    root.insert(0, signature_template(reference_id=root.get("ID"), cert_pem=sp.cert_pem()))
    return sign_document(root, key_file=sp.key_file, cert_file=sp.cert_file,
                         id_nodes=["urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"])


@dataclass(frozen=True)
class OutgoingRequest:
    request_id: str
    issue_instant: str
    redirect_url: str
    level: str
    comparison: str
    idp_entity_id: str
    attribute_index: int


def authn_request_xml(*, sp: ServiceProvider, idp: IdentityProvider, request_id: str, instant: str, level: str,
                      attribute_index: int) -> bytes:
    root = etree.Element(q("samlp", "AuthnRequest"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID=request_id, Version="2.0", IssueInstant=instant, Destination=idp.sso_url,
                         AssertionConsumerServiceIndex="0", AttributeConsumingServiceIndex=str(attribute_index))
    # ForceAuthn above level 1: the IdP must authenticate again, not reuse its session (Regole tecniche).
    if level != "SpidL1":
        root.set("ForceAuthn", "true")
    issuer = etree.SubElement(root, q("saml", "Issuer"), NameQualifier=sp.entity_id, Format=NAMEID_ENTITY)
    issuer.text = sp.entity_id
    etree.SubElement(root, q("samlp", "NameIDPolicy"), Format=NAMEID_TRANSIENT)
    context = etree.SubElement(root, q("samlp", "RequestedAuthnContext"), Comparison="minimum")
    etree.SubElement(context, q("saml", "AuthnContextClassRef")).text = LEVELS[level]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def redirect_sign(query: str, key_file: Path) -> str:
    key = private_key_from_pem(key_file.read_bytes())
    signature = key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return base64.b64encode(signature).decode()


def authn_request_build(*, idp: IdentityProvider, level: str, relay_state: str,
                        attribute_index: int = 0) -> OutgoingRequest:
    """An AuthnRequest for the HTTP-Redirect binding, signed RSA-SHA256 over the query (SAML bindings 3.4.4.1)."""
    sp = sp_credentials_ensure()
    request_id = _new_id()
    instant = format_instant(clock.now())
    xml = authn_request_xml(sp=sp, idp=idp, request_id=request_id, instant=instant, level=level,
                            attribute_index=attribute_index)
    query = urllib.parse.urlencode([("SAMLRequest", redirect_encode(xml)), ("RelayState", relay_state),
                                    ("SigAlg", RSA_SHA256)])
    query += "&" + urllib.parse.urlencode([("Signature", redirect_sign(query, sp.key_file))])
    separator = "&" if "?" in idp.sso_url else "?"
    return OutgoingRequest(request_id=request_id, issue_instant=instant, redirect_url=f"{idp.sso_url}{separator}{query}",
                           level=level, comparison="minimum", idp_entity_id=idp.entity_id,
                           attribute_index=attribute_index)
