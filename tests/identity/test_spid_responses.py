"""The ACS refuses every response that breaks a SPID rule, whatever a generic SAML library would accept.

Each case starts a real login (the signed AuthnRequest and the browser's pending-request cookie),
crafts the demo IdP's answer with one defect, signs it, and posts it: 403, nobody signed in, and the
refusal recorded in the audit trail with its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree

from audit.models import AuditEvent
from common import clock
from identity.demo_idp import idp
from identity.saml import NS, q
from identity.views import PENDING_COOKIE
from tests.identity.conftest import demo_identity, post_to_acs, start_login

pytestmark = pytest.mark.django_db


def _assertion(root):
    return root.find(q("saml", "Assertion"))


def _set(path: str, attr: str, value: str | None) -> Callable:
    def mutate(root):
        el = root if path == "." else root.find(path, NS)
        if value is None:
            del el.attrib[attr]
        else:
            el.set(attr, value)
    return mutate


def _wrap(root):
    """XSW: a second, unsigned Assertion with another identity next to the signed one."""
    evil = etree.fromstring(etree.tostring(_assertion(root)))
    evil.set("ID", "_evil")
    root.append(evil)


BAD_RESPONSES = {
    "destination": _set(".", "Destination", "https://evil.example/spid/acs/"),
    "in_response_to": _set(".", "InResponseTo", "_another_request"),
    "recipient": _set("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                      "Recipient", "https://evil.example/spid/acs/"),
    "subject_in_response_to": _set("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                                   "InResponseTo", "_another_request"),
    "name_qualifier": _set("saml:Assertion/saml:Subject/saml:NameID", "NameQualifier", None),
    "not_on_or_after": _set("saml:Assertion/saml:Conditions", "NotOnOrAfter", "2020-01-01T00:00:00Z"),
    "not_before": _set("saml:Assertion/saml:Conditions", "NotBefore", "2099-01-01T00:00:00Z"),
    "subject_not_on_or_after": _set("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                                    "NotOnOrAfter", "2020-01-01T00:00:00Z"),
    "response_issue_instant": _set(".", "IssueInstant", "2099-01-01T00:00:00Z"),
    "issuer": lambda root: setattr(root.find("saml:Issuer", NS), "text", "https://evil.example/idp"),
    "audience": lambda root: setattr(root.find("saml:Assertion/saml:Conditions/saml:AudienceRestriction/saml:Audience",
                                               NS), "text", "https://another-sp.example/"),
    "level": lambda root: setattr(root.find(".//saml:AuthnContextClassRef", NS), "text", "https://www.spid.gov.it/SpidL1"),
    "authn_context_class": lambda root: setattr(root.find(".//saml:AuthnContextClassRef", NS), "text",
                                                "urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL2"),
    "fiscal_number": lambda root: setattr(root.find(".//saml:Attribute[@Name='fiscalNumber']/saml:AttributeValue", NS),
                                          "text", "PRVGNN90R10H501Q"),
}


@pytest.mark.parametrize("code", sorted(BAD_RESPONSES))
def test_a_response_breaking_a_spid_rule_is_refused(client, municipality, code):
    started = start_login(client, level="SpidL2")
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    BAD_RESPONSES[code](root)

    response = post_to_acs(client, idp.response_sign(root))

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login_failed", object_type="identity", extra__code=code).exists()


def test_an_unsigned_assertion_is_refused_even_inside_a_signed_response(client, municipality):
    started = start_login(client)
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    assert post_to_acs(client, idp.response_sign(root, sign_assertion=False)).status_code == 403
    assert AuditEvent.objects.filter(extra__code="assertion_signature").exists()


def test_a_response_signed_by_another_key_is_refused(client, municipality, tmp_path):
    from identity.certs import plain_certificate_create

    plain_certificate_create(key_file=tmp_path / "k", cert_file=tmp_path / "c", common_name="evil")
    started = start_login(client)
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    assert post_to_acs(client, idp.response_sign(root, key_file=tmp_path / "k", cert_file=tmp_path / "c")).status_code == 403
    assert "_auth_user_id" not in client.session


def test_a_wrapped_second_assertion_is_refused(client, municipality):
    started = start_login(client)
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    signed = etree.fromstring(idp.response_sign(root, sign_response=False))
    _wrap(signed)
    assert post_to_acs(client, etree.tostring(signed)).status_code == 403
    assert AuditEvent.objects.filter(extra__code="assertion_count").exists()


def test_a_replayed_assertion_is_refused(client, municipality):
    started = start_login(client)
    xml = idp.response_build(request=started.incoming, identity=demo_identity(), level="SpidL2")
    assert post_to_acs(client, xml).status_code == 302
    client.logout()
    # The attacker replays the captured response with the captured request cookie.
    client.cookies[PENDING_COOKIE] = started.cookie
    assert post_to_acs(client, xml).status_code == 403
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(extra__code="replay").exists()


def test_a_response_arriving_in_another_browser_is_refused(client, municipality):
    started = start_login(client)
    xml = idp.response_build(request=started.incoming, identity=demo_identity(), level="SpidL2")
    del client.cookies[PENDING_COOKIE]
    assert post_to_acs(client, xml).status_code == 403
    assert "_auth_user_id" not in client.session


def test_an_expired_assertion_is_refused_after_the_clock_moves_on(client, municipality):
    started = start_login(client)
    xml = idp.response_build(request=started.incoming, identity=demo_identity(), level="SpidL2")
    clock.advance(dt.timedelta(minutes=10))
    assert post_to_acs(client, xml).status_code == 403


def test_a_higher_level_than_requested_is_accepted_and_recorded(client, municipality):
    started = start_login(client, level="SpidL2")
    xml = idp.response_build(request=started.incoming, identity=demo_identity(), level="SpidL3")
    assert post_to_acs(client, xml).status_code == 302
    assert client.session["identity_loa"] == "SpidL3"


def test_an_idp_anomaly_shows_the_spid_message_to_the_citizen(client, municipality):
    started = start_login(client)
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    status = root.find("samlp:Status", NS)
    status.find("samlp:StatusCode", NS).set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    etree.SubElement(status, q("samlp", "StatusMessage")).text = "ErrorCode nr22"
    root.remove(_assertion(root))
    response = post_to_acs(client, idp.response_sign(root, sign_assertion=False))
    assert response.status_code == 403
    assert "Hai negato il consenso" in response.content.decode()


def test_a_comment_slipped_into_a_signed_value_is_refused(client, municipality):
    """Exclusive c14n ignores comments: the signature still verifies, the value a parser reads is cut."""
    started = start_login(client)
    root = idp.response_tree(request=started.incoming, identity=demo_identity(), level="SpidL2")
    signed = etree.fromstring(idp.response_sign(root))
    value = signed.find(".//saml:Attribute[@Name='fiscalNumber']/saml:AttributeValue", NS)
    value.text = "TINIT-PRVGNN90R10H501Q"
    value.append(etree.Comment(""))
    value[-1].tail = "X"
    assert post_to_acs(client, etree.tostring(signed)).status_code == 403
    assert AuditEvent.objects.filter(extra__code="malformed").exists()
    assert "_auth_user_id" not in client.session
