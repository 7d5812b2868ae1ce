"""A local SAML identity provider for the demo and the tests, with fictitious identities.

It speaks the real protocol to our SP: it reads the signed HTTP-Redirect AuthnRequest (checking the
signature with the SP certificate), and answers with a Response and an Assertion both signed
RSA-SHA256, shaped as a SPID IdP does. It is never available in production (identity.idps.demo_idp_enabled).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from lxml import etree

from common import clock

from ..certs import plain_certificate_create
from ..idps import IdentityProvider
from ..levels import LEVELS
from ..saml import (
    BINDING_POST,
    BINDING_REDIRECT,
    CM_BEARER,
    NAMEID_ENTITY,
    NAMEID_TRANSIENT,
    NS,
    RSA_SHA256,
    STATUS_SUCCESS,
    XmlError,
    format_instant,
    insert_signature,
    parse_xml,
    pem_body,
    q,
    redirect_decode,
    sign_document,
)


@dataclass(frozen=True)
class DemoIdentity:
    fiscal_code: str
    name: str
    family_name: str
    date_of_birth: str
    email: str


# Fictitious people (the fiscal codes are well formed and belong to nobody known to us).
IDENTITIES = (
    DemoIdentity("PRVGNN90R10H501Q", "Giovanni", "Prova", "1990-10-10", "giovanni.prova@example.org"),
    DemoIdentity("RSSMRA80A41H501Y", "Maria", "Rossi", "1980-01-01", "maria.rossi@example.org"),
    DemoIdentity("BNCLCU75C15F205O", "Luca", "Bianchi", "1975-03-15", "luca.bianchi@example.org"),
)


def _paths() -> tuple[Path, Path]:
    base = Path(settings.PROCEDO_SPID_KEY_FILE).parent
    return base / "demo-idp.key", base / "demo-idp.crt"


def demo_credentials_ensure() -> tuple[Path, Path]:
    key_file, cert_file = _paths()
    if not (key_file.exists() and cert_file.exists()):
        plain_certificate_create(key_file=key_file, cert_file=cert_file, common_name="Procedo demo IdP")
    return key_file, cert_file


def entity_id() -> str:
    return f"{settings.PROCEDO_SPID_BASE_URL}/demo-idp/metadata/"


def sso_url() -> str:
    return f"{settings.PROCEDO_SPID_BASE_URL}/demo-idp/sso/"


def slo_url() -> str:
    return f"{settings.PROCEDO_SPID_BASE_URL}/demo-idp/slo/"


def demo_identity_provider() -> IdentityProvider:
    _key, cert = demo_credentials_ensure()
    return IdentityProvider(entity_id=entity_id(), name="Demo IdP (Procedo)", sso_url=sso_url(),
                            certs=(cert.read_text(),), scheme="spid", slo_url=slo_url())


def metadata_xml() -> bytes:
    _key, cert = demo_credentials_ensure()
    root = etree.Element(q("md", "EntityDescriptor"), nsmap={"md": NS["md"], "ds": NS["ds"]}, entityID=entity_id())
    descriptor = etree.SubElement(root, q("md", "IDPSSODescriptor"), WantAuthnRequestsSigned="true",
                                  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol")
    key = etree.SubElement(descriptor, q("md", "KeyDescriptor"), use="signing")
    x509_data = etree.SubElement(etree.SubElement(key, q("ds", "KeyInfo")), q("ds", "X509Data"))
    etree.SubElement(x509_data, q("ds", "X509Certificate")).text = pem_body(cert.read_text())
    etree.SubElement(descriptor, q("md", "SingleLogoutService"), Binding=BINDING_REDIRECT, Location=slo_url())
    etree.SubElement(descriptor, q("md", "NameIDFormat")).text = NAMEID_TRANSIENT
    etree.SubElement(descriptor, q("md", "SingleSignOnService"), Binding=BINDING_REDIRECT, Location=sso_url())
    etree.SubElement(descriptor, q("md", "SingleSignOnService"), Binding=BINDING_POST, Location=sso_url())
    org = etree.SubElement(root, q("md", "Organization"))
    for tag in ("OrganizationName", "OrganizationDisplayName"):
        el = etree.SubElement(org, q("md", tag))
        el.set("{http://www.w3.org/XML/1998/namespace}lang", "it")
        el.text = "Demo IdP (Procedo)"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class IncomingRequest:
    request_id: str
    issuer: str
    level: str
    acs_url: str


def authn_request_read(*, saml_request: str, relay_state: str | None, sig_alg: str, signature: str) -> IncomingRequest:
    """Check the redirect-binding signature with our SP's certificate, then read the request."""
    from ..sp import service_provider

    sp = service_provider()
    parts = [("SAMLRequest", saml_request)]
    if relay_state is not None:
        parts.append(("RelayState", relay_state))
    parts.append(("SigAlg", sig_alg))
    import urllib.parse

    signed = "&".join(f"{k}={urllib.parse.quote_plus(v)}" for k, v in parts)
    if sig_alg != RSA_SHA256:
        raise BadRequest("signature algorithm")
    cert = x509.load_pem_x509_certificate(sp.cert_file.read_bytes())
    try:
        cert.public_key().verify(base64.b64decode(signature), signed.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
    except (InvalidSignature, ValueError) as exc:
        raise BadRequest("signature") from exc
    try:
        root = parse_xml(redirect_decode(saml_request))
    except XmlError as exc:
        raise BadRequest("xml") from exc
    if root.tag != q("samlp", "AuthnRequest"):
        raise BadRequest("not an AuthnRequest")
    issuer = (root.findtext("saml:Issuer", namespaces=NS) or "").strip()
    if issuer != sp.entity_id:
        raise BadRequest("unknown SP")
    ref = (root.findtext("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", namespaces=NS) or "").strip()
    level = next((name for name, uri in LEVELS.items() if uri == ref), "SpidL1")
    return IncomingRequest(request_id=root.get("ID", ""), issuer=issuer, level=level, acs_url=sp.acs_url)


def response_build(*, request: IncomingRequest, identity: DemoIdentity, level: str) -> bytes:
    return response_sign(response_tree(request=request, identity=identity, level=level))


def response_tree(*, request: IncomingRequest, identity: DemoIdentity, level: str) -> etree._Element:
    """The unsigned Response (a tree, so that tests can craft bad ones before signing)."""
    now = clock.now()
    instant = format_instant(now)
    expires = format_instant(now + dt.timedelta(minutes=5))
    idp = entity_id()
    response = etree.Element(q("samlp", "Response"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                             ID="_" + secrets.token_hex(20), Version="2.0", IssueInstant=instant,
                             Destination=request.acs_url, InResponseTo=request.request_id)
    etree.SubElement(response, q("saml", "Issuer"), Format=NAMEID_ENTITY).text = idp
    status = etree.SubElement(response, q("samlp", "Status"))
    etree.SubElement(status, q("samlp", "StatusCode"), Value=STATUS_SUCCESS)
    assertion = etree.SubElement(response, q("saml", "Assertion"), ID="_" + secrets.token_hex(20), Version="2.0",
                                 IssueInstant=instant)
    etree.SubElement(assertion, q("saml", "Issuer"), Format=NAMEID_ENTITY).text = idp
    subject = etree.SubElement(assertion, q("saml", "Subject"))
    etree.SubElement(subject, q("saml", "NameID"), Format=NAMEID_TRANSIENT, NameQualifier=idp).text = (
        "_" + secrets.token_hex(16))
    confirmation = etree.SubElement(subject, q("saml", "SubjectConfirmation"), Method=CM_BEARER)
    etree.SubElement(confirmation, q("saml", "SubjectConfirmationData"), InResponseTo=request.request_id,
                     NotOnOrAfter=expires, Recipient=request.acs_url)
    conditions = etree.SubElement(assertion, q("saml", "Conditions"), NotBefore=instant, NotOnOrAfter=expires)
    etree.SubElement(etree.SubElement(conditions, q("saml", "AudienceRestriction")), q("saml", "Audience")).text = (
        request.issuer)
    statement = etree.SubElement(assertion, q("saml", "AuthnStatement"), AuthnInstant=instant,
                                 SessionIndex="_" + secrets.token_hex(16))
    etree.SubElement(etree.SubElement(statement, q("saml", "AuthnContext")),
                     q("saml", "AuthnContextClassRef")).text = LEVELS[level]
    attributes = etree.SubElement(assertion, q("saml", "AttributeStatement"))
    for name, value in (("fiscalNumber", f"TINIT-{identity.fiscal_code}"), ("name", identity.name),
                        ("familyName", identity.family_name), ("dateOfBirth", identity.date_of_birth),
                        ("email", identity.email)):
        attribute = etree.SubElement(attributes, q("saml", "Attribute"), Name=name)
        etree.SubElement(attribute, q("saml", "AttributeValue")).text = value
    return response


def response_sign(response: etree._Element, *, sign_response: bool = True, sign_assertion: bool = True,
                  key_file: Path | None = None, cert_file: Path | None = None) -> bytes:
    if key_file is None or cert_file is None:
        key_file, cert_file = demo_credentials_ensure()
    cert_pem = cert_file.read_text()
    id_nodes = ["urn:oasis:names:tc:SAML:2.0:protocol:Response", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"]
    # The Assertion first: the Response's signature then covers the signed Assertion.
    data: bytes = etree.tostring(response, xml_declaration=True, encoding="UTF-8")
    if sign_assertion and response.find(q("saml", "Assertion")) is not None:
        insert_signature(response.find(q("saml", "Assertion")), cert_pem=cert_pem)
        data = sign_document(response, key_file=key_file, cert_file=cert_file, id_nodes=id_nodes,
                             node_xpath="/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']")
    if sign_response:
        response = parse_xml(data)
        insert_signature(response, cert_pem=cert_pem)
        data = sign_document(response, key_file=key_file, cert_file=cert_file, id_nodes=id_nodes,
                             node_xpath="/*[local-name()='Response']/*[local-name()='Signature']")
    return data


# --- single logout -----------------------------------------------------------------------------------

def sp_message_read(*, raw_query: str, params, param: str, tag: str) -> etree._Element:
    """A logout message from our SP (HTTP-Redirect, signed over the query with the SP's key)."""
    from ..slo import query_signature_ok
    from ..sp import service_provider

    sp = service_provider()
    if not query_signature_ok(raw_query=raw_query, param=param, certs=(sp.cert_file.read_text(),)):
        raise BadRequest("signature")
    try:
        root = parse_xml(redirect_decode(params.get(param, "")))
    except XmlError as exc:
        raise BadRequest("xml") from exc
    if root.tag != q("samlp", tag) or (root.findtext("saml:Issuer", namespaces=NS) or "").strip() != sp.entity_id:
        raise BadRequest(f"not a {tag} from our SP")
    return root


def logout_response_build(*, in_response_to: str) -> bytes:
    """The IdP's signed LogoutResponse (HTTP-POST) to the SP's LogoutRequest."""
    from ..sp import service_provider

    key_file, cert_file = demo_credentials_ensure()
    root = etree.Element(q("samlp", "LogoutResponse"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID="_" + secrets.token_hex(20), Version="2.0", IssueInstant=format_instant(clock.now()),
                         Destination=service_provider().slo_url, InResponseTo=in_response_to)
    etree.SubElement(root, q("saml", "Issuer"), Format=NAMEID_ENTITY).text = entity_id()
    etree.SubElement(etree.SubElement(root, q("samlp", "Status")), q("samlp", "StatusCode"), Value=STATUS_SUCCESS)
    insert_signature(root, cert_pem=cert_file.read_text())
    return sign_document(root, key_file=key_file, cert_file=cert_file,
                         id_nodes=["urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse"])


def logout_request_url(*, name_id: str, session_index: str) -> str:
    """IdP-initiated logout: a LogoutRequest to the SP, HTTP-Redirect signed with the IdP's key."""
    from ..slo import redirect_url
    from ..sp import service_provider

    key_file, _cert = demo_credentials_ensure()
    sp = service_provider()
    now = clock.now()
    root = etree.Element(q("samlp", "LogoutRequest"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID="_" + secrets.token_hex(20), Version="2.0", IssueInstant=format_instant(now),
                         Destination=sp.slo_url, NotOnOrAfter=format_instant(now + dt.timedelta(minutes=5)))
    etree.SubElement(root, q("saml", "Issuer"), Format=NAMEID_ENTITY).text = entity_id()
    etree.SubElement(root, q("saml", "NameID"), Format=NAMEID_TRANSIENT, NameQualifier=entity_id()).text = name_id
    etree.SubElement(root, q("samlp", "SessionIndex")).text = session_index
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return redirect_url(destination=sp.slo_url, param="SAMLRequest", xml=xml, relay_state="", key_file=key_file)
