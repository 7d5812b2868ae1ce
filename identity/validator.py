"""The SPID response validator: every rule of the SPID technical rules (and of AgID's spid-sp-test)
that a generic SAML library does not enforce.

A response is refused unless, at the same time:
- it is well-formed XML without DTD, a samlp:Response with ID, Version 2.0, a valid IssueInstant not
  before our request's and not in the future; InResponseTo is the ID of the request this browser
  session sent (bound in the session, usable once); Destination is our ACS URL;
- its Status is Success (otherwise the IdP's ErrorCode nr19..nr25 is shown to the user);
- Issuer (Response and Assertion) is the entity ID of the IdP the request went to, with Format
  entity on the Assertion (omitted or entity on the Response);
- it holds exactly one Assertion, a direct child, signed by that IdP's registered certificate (never
  a certificate the message carries), the signature enveloped, covering exactly that element by
  ID, with SHA-256 or better and only the enveloped/exc-c14n transforms (no XSLT); every ID in the
  document is unique (signature-wrapping attacks); a Response signature, when present, verifies too;
- the Assertion has ID, Version 2.0, IssueInstant in the window; Subject/NameID transient with a
  NameQualifier; SubjectConfirmation bearer with Recipient = ACS, InResponseTo = request ID,
  NotOnOrAfter in the future; Conditions with NotBefore/NotOnOrAfter around now and Audience = our
  entity ID; AuthnStatement/AuthnContext/AuthnContextClassRef a SPID level not lower than requested
  (Comparison minimum; exact: equal); an AttributeStatement, when present, has attributes;
- it carries no XML comment or processing instruction (they hide inside signed values);
- its Assertion ID has not been seen before (stored until the assertion expires): no replay.
Clock skew: PROCEDO_SPID_CLOCK_SKEW_SECONDS on each side.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from .idps import IdentityProvider
from .levels import BY_URI, level_number
from .saml import (
    ALLOWED_C14N,
    ALLOWED_DIGEST_ALGS,
    ALLOWED_SIGNATURE_ALGS,
    ALLOWED_TRANSFORMS,
    CM_BEARER,
    NAMEID_ENTITY,
    NAMEID_TRANSIENT,
    NS,
    STATUS_SUCCESS,
    XmlError,
    parse_instant,
    parse_xml,
    pem_body,
    q,
    verify_signature,
)

MAX_RESPONSE_BYTES = 256 * 1024
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"


class ResponseRefused(Exception):
    """The response is not acceptable. `code` is a stable machine reason; `idp_error` the SPID
    anomaly number (19..25) when the IdP itself reported a failure."""

    def __init__(self, code: str, detail: str = "", *, idp_error: int | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.idp_error = idp_error


@dataclass(frozen=True)
class PendingRequest:
    request_id: str
    issue_instant: str
    idp_entity_id: str
    level: str
    comparison: str = "minimum"
    attribute_index: int = 0


@dataclass(frozen=True)
class ValidatedAssertion:
    assertion_id: str
    idp_entity_id: str
    level: str
    name_id: str
    name_qualifier: str
    session_index: str
    not_on_or_after: dt.datetime
    attributes: dict[str, str] = field(default_factory=dict)


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _required(parent: etree._Element, path: str, code: str) -> etree._Element:
    found = parent.findall(path, NS)
    if len(found) != 1:
        raise ResponseRefused(code, f"{path}: {len(found)} found")
    return found[0]


def _instant(value: str | None, code: str) -> dt.datetime:
    try:
        return parse_instant(value)
    except XmlError as exc:
        raise ResponseRefused(code, str(exc)) from exc


def _check_signature_structure(element: etree._Element, code: str) -> etree._Element | None:
    """The ds:Signature directly inside `element`, checked to cover exactly that element, or None."""
    signatures = element.findall(q("ds", "Signature"))
    if not signatures:
        return None
    if len(signatures) > 1:
        raise ResponseRefused(code, "more than one signature")
    sig = signatures[0]
    signed_info = _required(sig, "ds:SignedInfo", code)
    c14n = _required(signed_info, "ds:CanonicalizationMethod", code).get("Algorithm")
    method = _required(signed_info, "ds:SignatureMethod", code).get("Algorithm")
    if c14n not in ALLOWED_C14N or method not in ALLOWED_SIGNATURE_ALGS:
        raise ResponseRefused(code, f"algorithm {method} / {c14n} not allowed")
    references = signed_info.findall("ds:Reference", NS)
    if len(references) != 1 or references[0].get("URI") != f"#{element.get('ID')}":
        raise ResponseRefused(code, "the signature does not cover this element")
    reference = references[0]
    if _required(reference, "ds:DigestMethod", code).get("Algorithm") not in ALLOWED_DIGEST_ALGS:
        raise ResponseRefused(code, "digest algorithm not allowed")
    for transform in reference.iterfind("ds:Transforms/ds:Transform", NS):
        if transform.get("Algorithm") not in ALLOWED_TRANSFORMS or len(transform):
            raise ResponseRefused(code, f"transform {transform.get('Algorithm')} not allowed")
    return sig


def _check_key_info(sig: etree._Element, idp: IdentityProvider, code: str) -> None:
    trusted = {pem_body(c) for c in idp.certs}
    for cert in sig.iterfind(".//ds:X509Certificate", NS):
        body = "".join((cert.text or "").split())
        if body and body not in trusted:
            raise ResponseRefused(code, "signed with a certificate the IdP has not registered")


def _check_document_shape(root: etree._Element) -> None:
    ids: list[str] = [el.get("ID") for el in root.iter() if isinstance(el.tag, str) and el.get("ID") is not None]
    if len(ids) != len(set(ids)):
        raise ResponseRefused("duplicate_id", "an ID appears twice (signature wrapping)")
    if root.find(".//" + q("saml", "EncryptedAssertion")) is not None:
        raise ResponseRefused("encrypted_assertion")
    assertions = list(root.iter(q("saml", "Assertion")))
    if len(assertions) > 1 or (assertions and assertions[0].getparent() is not root):
        raise ResponseRefused("assertion_count", "exactly one Assertion, child of the Response")


def response_validate(*, saml_response: str, pending: PendingRequest | None, idp: IdentityProvider | None, acs_url: str,
                      sp_entity_id: str, now: dt.datetime, skew: dt.timedelta,
                      assertion_issuer_format_required: bool = True) -> ValidatedAssertion:
    """Validate a POSTed SAMLResponse against the request this session sent (`pending`). Does not
    record the assertion ID: the caller does that (identity.services.assertion_id_consume)."""
    if not saml_response or len(saml_response) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
        raise ResponseRefused("malformed", "empty or too large")
    try:
        data = base64.b64decode(saml_response, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ResponseRefused("malformed", "not base64") from exc
    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise ResponseRefused("malformed", str(exc)) from exc
    if root.tag != q("samlp", "Response"):
        raise ResponseRefused("malformed", "not a samlp:Response")
    # Exclusive c14n drops comments, so a comment can be slipped into a signed value without breaking the
    # signature and cut what a parser reads (`TINIT-AAA<!---->BBB`). IdPs never send any: refuse them.
    if any(isinstance(node, (etree._Comment, etree._ProcessingInstruction)) for node in root.iter()):
        raise ResponseRefused("malformed", "comments or processing instructions")
    if pending is None or idp is None or idp.entity_id != pending.idp_entity_id:
        raise ResponseRefused("no_request", "no authentication request pending in this session")

    # --- Response ---------------------------------------------------------------------------------------
    if not (root.get("ID") or "").strip():
        raise ResponseRefused("response_id")
    if root.get("Version") != "2.0":
        raise ResponseRefused("response_version")
    request_instant = _instant(pending.issue_instant, "request_instant")
    issued = _instant(root.get("IssueInstant"), "response_issue_instant")
    if issued < request_instant - skew or issued > now + skew:
        raise ResponseRefused("response_issue_instant", "outside the window")
    if root.get("InResponseTo") != pending.request_id:
        raise ResponseRefused("in_response_to")
    if root.get("Destination") != acs_url:
        raise ResponseRefused("destination")

    status = _required(root, "samlp:Status", "status")
    status_code = _required(status, "samlp:StatusCode", "status")
    if status_code.get("Value") != STATUS_SUCCESS:
        message = _text(status.find("samlp:StatusMessage", NS))
        idp_error = None
        if message.startswith("ErrorCode nr"):
            try:
                idp_error = int(message.removeprefix("ErrorCode nr"))
            except ValueError:
                idp_error = None
        raise ResponseRefused("status", status_code.get("Value") or "", idp_error=idp_error)

    issuer = _required(root, "saml:Issuer", "issuer")
    if _text(issuer) != idp.entity_id:
        raise ResponseRefused("issuer", "not the IdP the request went to")
    if issuer.get("Format") not in (None, NAMEID_ENTITY):
        raise ResponseRefused("issuer_format")

    # --- Signatures -----------------------------------------------------------------------------------
    _check_document_shape(root)
    assertion = root.find(q("saml", "Assertion"))
    if assertion is None:
        raise ResponseRefused("assertion_missing")
    if not (assertion.get("ID") or "").strip():
        raise ResponseRefused("assertion_id")
    assertion_sig = _check_signature_structure(assertion, "assertion_signature")
    if assertion_sig is None:
        raise ResponseRefused("assertion_signature", "the Assertion must be signed")
    _check_key_info(assertion_sig, idp, "assertion_signature")
    id_nodes = [RESPONSE_NODE, ASSERTION_NODE]
    certs = list(idp.certs)
    if not verify_signature(data, cert_pems=certs, id_nodes=id_nodes,
                            node_xpath="/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"):
        raise ResponseRefused("assertion_signature", "does not verify with the IdP's certificate")
    response_sig = _check_signature_structure(root, "response_signature")
    if response_sig is not None:
        _check_key_info(response_sig, idp, "response_signature")
        if not verify_signature(data, cert_pems=certs, id_nodes=id_nodes,
                                node_xpath="/*[local-name()='Response']/*[local-name()='Signature']"):
            raise ResponseRefused("response_signature", "does not verify with the IdP's certificate")

    # --- Assertion --------------------------------------------------------------------------------------
    if assertion.get("Version") != "2.0":
        raise ResponseRefused("assertion_version")
    a_issued = _instant(assertion.get("IssueInstant"), "assertion_issue_instant")
    if a_issued < request_instant - skew or a_issued > now + skew:
        raise ResponseRefused("assertion_issue_instant", "outside the window")

    a_issuer = _required(assertion, "saml:Issuer", "assertion_issuer")
    if _text(a_issuer) != idp.entity_id:
        raise ResponseRefused("assertion_issuer", "not the IdP the request went to")
    # SPID requires Format=entity on the Assertion's Issuer; CIE lets it be omitted, never be another value.
    issuer_format = a_issuer.get("Format")
    if issuer_format != NAMEID_ENTITY and (assertion_issuer_format_required or issuer_format is not None):
        raise ResponseRefused("assertion_issuer_format")

    subject = _required(assertion, "saml:Subject", "subject")
    name_id = _required(subject, "saml:NameID", "name_id")
    if not _text(name_id):
        raise ResponseRefused("name_id")
    if name_id.get("Format") != NAMEID_TRANSIENT:
        raise ResponseRefused("name_id_format")
    if not (name_id.get("NameQualifier") or "").strip():
        raise ResponseRefused("name_qualifier")
    confirmation = _required(subject, "saml:SubjectConfirmation", "subject_confirmation")
    if confirmation.get("Method") != CM_BEARER:
        raise ResponseRefused("subject_confirmation_method")
    confirmation_data = _required(confirmation, "saml:SubjectConfirmationData", "subject_confirmation_data")
    if confirmation_data.get("Recipient") != acs_url:
        raise ResponseRefused("recipient")
    if confirmation_data.get("InResponseTo") != pending.request_id:
        raise ResponseRefused("subject_in_response_to")
    if _instant(confirmation_data.get("NotOnOrAfter"), "subject_not_on_or_after") <= now - skew:
        raise ResponseRefused("subject_not_on_or_after", "expired")

    conditions = _required(assertion, "saml:Conditions", "conditions")
    not_before = _instant(conditions.get("NotBefore"), "not_before")
    not_on_or_after = _instant(conditions.get("NotOnOrAfter"), "not_on_or_after")
    if not_before > now + skew:
        raise ResponseRefused("not_before", "not yet valid")
    if not_on_or_after <= now - skew:
        raise ResponseRefused("not_on_or_after", "expired")
    restriction = _required(conditions, "saml:AudienceRestriction", "audience")
    audiences = [_text(a) for a in restriction.findall("saml:Audience", NS)]
    if audiences != [sp_entity_id]:
        raise ResponseRefused("audience")

    statement = _required(assertion, "saml:AuthnStatement", "authn_statement")
    context = _required(statement, "saml:AuthnContext", "authn_context")
    class_ref = _text(_required(context, "saml:AuthnContextClassRef", "authn_context_class"))
    level = BY_URI.get(class_ref)
    if level is None:
        raise ResponseRefused("authn_context_class", f"unknown level {class_ref!r}")
    got, wanted = level_number(level), level_number(pending.level)
    if (pending.comparison == "exact" and got != wanted) or (pending.comparison != "exact" and got < wanted):
        raise ResponseRefused("level", f"{level} given, {pending.level} requested")

    attributes: dict[str, str] = {}
    attribute_statements = assertion.findall("saml:AttributeStatement", NS)
    if len(attribute_statements) > 1:
        raise ResponseRefused("attribute_statement")
    for attribute_statement in attribute_statements:
        items = attribute_statement.findall("saml:Attribute", NS)
        if not items:
            raise ResponseRefused("attribute_statement", "no attributes")
        for item in items:
            name = (item.get("Name") or "").strip()
            if not name:
                raise ResponseRefused("attribute_statement", "attribute without a name")
            attributes[name] = _text(item.find("saml:AttributeValue", NS))

    return ValidatedAssertion(
        assertion_id=assertion.get("ID").strip(), idp_entity_id=idp.entity_id, level=level,
        name_id=_text(name_id), name_qualifier=name_id.get("NameQualifier").strip(),
        session_index=(statement.get("SessionIndex") or "").strip(), not_on_or_after=not_on_or_after,
        attributes=attributes,
    )
