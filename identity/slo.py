"""SAML single logout (SAML core 3.7, bindings 3.4 and 3.5; SPID technical rules): the SP's signed
LogoutRequest to the IdP and the check of its LogoutResponse; the IdP's LogoutRequest (IdP-initiated
logout, HTTP-Redirect, signed over the query) and the SP's signed LogoutResponse.

Messages the SP sends go by HTTP-Redirect signed RSA-SHA256 over the query, like the AuthnRequest.
Messages the SP receives are accepted by HTTP-POST (enveloped signature, checked against the IdP's
registered certificates only) or HTTP-Redirect (query signature, same certificates).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from common import clock

from .idps import IdentityProvider, identity_provider
from .saml import (
    NAMEID_ENTITY,
    NAMEID_TRANSIENT,
    NS,
    RSA_SHA256,
    STATUS_SUCCESS,
    XmlError,
    format_instant,
    parse_instant,
    parse_xml,
    q,
    redirect_decode,
    redirect_encode,
    verify_signature,
)
from .sp import ServiceProvider, redirect_sign
from .validator import ResponseRefused, _check_key_info, _check_signature_structure

STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
MAX_MESSAGE_BYTES = 64 * 1024


class LogoutRefused(ResponseRefused):
    pass


def _new_id() -> str:
    return "_" + secrets.token_hex(20)


def _issuer(parent: etree._Element, sp: ServiceProvider) -> None:
    issuer = etree.SubElement(parent, q("saml", "Issuer"), NameQualifier=sp.entity_id, Format=NAMEID_ENTITY)
    issuer.text = sp.entity_id


def redirect_url(*, destination: str, param: str, xml: bytes, relay_state: str, key_file: Path) -> str:
    """HTTP-Redirect binding, signed over `SAMLRequest|SAMLResponse=..&RelayState=..&SigAlg=..`."""
    parts = [(param, redirect_encode(xml))]
    if relay_state:
        parts.append(("RelayState", relay_state))
    parts.append(("SigAlg", RSA_SHA256))
    query = urllib.parse.urlencode(parts)
    query += "&" + urllib.parse.urlencode([("Signature", redirect_sign(query, key_file))])
    return f"{destination}{'&' if '?' in destination else '?'}{query}"


@dataclass(frozen=True)
class OutgoingLogout:
    request_id: str
    issue_instant: str
    redirect_url: str


def logout_request_build(*, sp: ServiceProvider, idp: IdentityProvider, name_id: str, name_qualifier: str,
                         session_index: str, relay_state: str) -> OutgoingLogout:
    request_id, instant = _new_id(), format_instant(clock.now())
    root = etree.Element(q("samlp", "LogoutRequest"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID=request_id, Version="2.0", IssueInstant=instant, Destination=idp.slo_url)
    _issuer(root, sp)
    name = etree.SubElement(root, q("saml", "NameID"), Format=NAMEID_TRANSIENT,
                            NameQualifier=name_qualifier or idp.entity_id)
    name.text = name_id
    if session_index:
        etree.SubElement(root, q("samlp", "SessionIndex")).text = session_index
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return OutgoingLogout(request_id, instant, redirect_url(destination=idp.slo_url, param="SAMLRequest", xml=xml,
                                                            relay_state=relay_state, key_file=sp.key_file))


def logout_response_build(*, sp: ServiceProvider, idp: IdentityProvider, in_response_to: str, success: bool,
                          relay_state: str) -> str:
    """The SP's answer to an IdP-initiated LogoutRequest, as a signed redirect URL to the IdP's SLO."""
    root = etree.Element(q("samlp", "LogoutResponse"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID=_new_id(), Version="2.0", IssueInstant=format_instant(clock.now()),
                         Destination=idp.slo_url, InResponseTo=in_response_to)
    _issuer(root, sp)
    status = etree.SubElement(root, q("samlp", "Status"))
    etree.SubElement(status, q("samlp", "StatusCode"), Value=STATUS_SUCCESS if success else STATUS_REQUESTER)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return redirect_url(destination=idp.slo_url, param="SAMLResponse", xml=xml, relay_state=relay_state, key_file=sp.key_file)


# --- incoming -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Incoming:
    root: etree._Element
    idp: IdentityProvider


def query_signature_ok(*, raw_query: str, param: str, certs: tuple[str, ...]) -> bool:
    """HTTP-Redirect signature (bindings 3.4.4.1): over the parameters exactly as they were sent."""
    pairs = [p.split("=", 1) for p in raw_query.split("&") if "=" in p]
    raw = {k: v for k, v in pairs}
    if param not in raw or "SigAlg" not in raw or "Signature" not in raw:
        return False
    if urllib.parse.unquote_plus(raw["SigAlg"]) != RSA_SHA256:
        return False
    signed = "&".join(f"{k}={raw[k]}" for k in (param, "RelayState", "SigAlg") if k in raw).encode()
    try:
        signature = base64.b64decode(urllib.parse.unquote_plus(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        return False
    for pem in certs:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
            return True
        except (InvalidSignature, ValueError, TypeError):
            continue
    return False


def message_read(*, method: str, params, raw_query: str, param: str, tag: str) -> Incoming:
    """Read and authenticate an IdP's logout message: its Issuer must be a known IdP with an SLO
    service, and it must be signed by one of that IdP's registered certificates."""
    value = params.get(param, "")
    if not value or len(value) > MAX_MESSAGE_BYTES:
        raise LogoutRefused("malformed", "empty or too large")
    try:
        data = redirect_decode(value) if method == "GET" else base64.b64decode(value, validate=False)
        root = parse_xml(data)
    except (XmlError, binascii.Error, ValueError) as exc:
        raise LogoutRefused("malformed", str(exc)[:200]) from exc
    if root.tag != q("samlp", tag) or root.get("Version") != "2.0" or not (root.get("ID") or "").strip():
        raise LogoutRefused("malformed", f"not a samlp:{tag}")
    if any(isinstance(node, (etree._Comment, etree._ProcessingInstruction)) for node in root.iter()):
        raise LogoutRefused("malformed", "comments or processing instructions")
    ids = [el.get("ID") for el in root.iter() if isinstance(el.tag, str) and el.get("ID") is not None]
    if len(ids) != len(set(ids)):
        raise LogoutRefused("duplicate_id")
    issuer = (root.findtext("saml:Issuer", namespaces=NS) or "").strip()
    idp = identity_provider(issuer)
    if idp is None or not idp.slo_url:
        raise LogoutRefused("issuer", "unknown identity provider")
    if method == "GET":
        if not query_signature_ok(raw_query=raw_query, param=param, certs=idp.certs):
            raise LogoutRefused("signature", "query signature")
    else:
        sig = _check_signature_structure(root, "signature")
        if sig is None:
            raise LogoutRefused("signature", "not signed")
        _check_key_info(sig, idp, "signature")
        xpath = f"/*[local-name()='{tag}']/*[local-name()='Signature']"
        if not verify_signature(data, cert_pems=list(idp.certs), node_xpath=xpath,
                                id_nodes=[f"urn:oasis:names:tc:SAML:2.0:protocol:{tag}"]):
            raise LogoutRefused("signature", "signature does not verify")
    return Incoming(root=root, idp=idp)


def _check_instant(root: etree._Element, *, now: dt.datetime, skew: dt.timedelta, not_before: dt.datetime) -> None:
    try:
        issued = parse_instant(root.get("IssueInstant"))
    except XmlError as exc:
        raise LogoutRefused("issue_instant", str(exc)) from exc
    if issued < not_before - skew or issued > now + skew:
        raise LogoutRefused("issue_instant", "outside the window")


def logout_response_validate(incoming: Incoming, *, pending_id: str, pending_idp: str, pending_instant: str,
                             slo_url: str, now: dt.datetime, skew: dt.timedelta) -> None:
    """The IdP's answer to our LogoutRequest: to that request, from that IdP, to us, successful."""
    root = incoming.root
    if not pending_id or incoming.idp.entity_id != pending_idp:
        raise LogoutRefused("no_request", "no logout request pending")
    if root.get("InResponseTo") != pending_id:
        raise LogoutRefused("in_response_to")
    if root.get("Destination") != slo_url:
        raise LogoutRefused("destination")
    try:
        sent = parse_instant(pending_instant)
    except XmlError as exc:
        raise LogoutRefused("request_instant") from exc
    _check_instant(root, now=now, skew=skew, not_before=sent)
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != STATUS_SUCCESS:
        raise LogoutRefused("status", "logout not successful at the IdP")


@dataclass(frozen=True)
class IdpLogoutRequest:
    request_id: str
    idp: IdentityProvider
    name_id: str
    session_indexes: tuple[str, ...]


def logout_request_validate(incoming: Incoming, *, slo_url: str, now: dt.datetime,
                            skew: dt.timedelta) -> IdpLogoutRequest:
    root = incoming.root
    if root.get("Destination") != slo_url:
        raise LogoutRefused("destination")
    _check_instant(root, now=now, skew=skew, not_before=now - dt.timedelta(minutes=5))
    not_on_or_after = root.get("NotOnOrAfter")
    if not_on_or_after:
        try:
            if parse_instant(not_on_or_after) <= now - skew:
                raise LogoutRefused("expired")
        except XmlError as exc:
            raise LogoutRefused("expired", str(exc)) from exc
    names = root.findall("saml:NameID", NS)
    if len(names) != 1 or not (names[0].text or "").strip():
        raise LogoutRefused("name_id")
    return IdpLogoutRequest(request_id=root.get("ID"), idp=incoming.idp, name_id=names[0].text.strip(),
                            session_indexes=tuple((s.text or "").strip() for s in root.findall("samlp:SessionIndex", NS)))
