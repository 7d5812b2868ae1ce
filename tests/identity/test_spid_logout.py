"""SAML single logout with the IdP: SP-initiated (signed LogoutRequest, LogoutResponse validated) and
IdP-initiated (the IdP's signed LogoutRequest ends the matching session; the SP answers signed)."""

from __future__ import annotations

import base64
import logging
import re
import urllib.parse

import pytest
from lxml import etree

from identity.demo_idp import idp
from identity.saml import NS, STATUS_SUCCESS, insert_signature, parse_xml, redirect_decode, sign_document
from identity.slo import query_signature_ok
from identity.sp import service_provider
from identity.views import SLO_COOKIE
from tests.identity.conftest import saml_response_from_form, start_login

pytestmark = pytest.mark.django_db


def _sign_in(client, fiscal_code="PRVGNN90R10H501Q"):
    started = start_login(client)
    form = client.post("/demo-idp/sso/", {**started.sso_query, "identity": fiscal_code, "level": "SpidL2"})
    done = client.post("/spid/acs/", {"SAMLResponse": base64.b64encode(saml_response_from_form(form.content.decode()))
                                      .decode()})
    assert done.status_code == 302 and "_auth_user_id" in client.session


def _query(location: str) -> tuple[str, dict]:
    split = urllib.parse.urlsplit(location)
    return split.query, dict(urllib.parse.parse_qsl(split.query))


def test_the_sp_signs_a_logout_request_and_accepts_the_idp_signed_response(client, municipality):
    _sign_in(client)
    name_id = client.session["identity_name_id"]
    assert "/spid/esci/" in client.get("/spid/benvenuto/").content.decode()
    assert client.get("/spid/esci/").status_code == 405  # a GET never signs anybody out

    started = client.post("/spid/esci/")
    assert started.status_code == 302 and started["Location"].startswith(idp.slo_url())
    assert "_auth_user_id" not in client.session  # the local session ends at once
    raw, query = _query(started["Location"])
    sp = service_provider()
    assert query_signature_ok(raw_query=raw, param="SAMLRequest", certs=(sp.cert_file.read_text(),))
    request = parse_xml(redirect_decode(query["SAMLRequest"]))
    assert request.tag == "{urn:oasis:names:tc:SAML:2.0:protocol}LogoutRequest"
    assert request.get("Destination") == idp.slo_url()
    assert request.findtext("saml:Issuer", namespaces=NS) == sp.entity_id
    assert request.find("saml:Issuer", NS).get("NameQualifier") == sp.entity_id
    assert request.findtext("saml:NameID", namespaces=NS) == name_id
    assert request.findtext("samlp:SessionIndex", namespaces=NS)

    at_idp = client.get("/demo-idp/slo/", query)  # the demo IdP answers with a signed LogoutResponse (POST)
    assert at_idp.status_code == 200
    answer = saml_response_from_form(at_idp.content.decode())
    assert etree.fromstring(answer).get("InResponseTo") == request.get("ID")
    back = client.post("/spid/slo/", {"SAMLResponse": base64.b64encode(answer).decode()})
    assert back.status_code == 302 and back["Location"] == "/accedi/"
    assert back.cookies[SLO_COOKIE].value == ""  # the pending logout is done

    replay = client.post("/spid/slo/", {"SAMLResponse": base64.b64encode(answer).decode()})
    assert replay.status_code == 400  # no logout pending any more


def _pending_logout(client):
    _sign_in(client)
    started = client.post("/spid/esci/")
    _raw, query = _query(started["Location"])
    at_idp = client.get("/demo-idp/slo/", query)
    return etree.fromstring(saml_response_from_form(at_idp.content.decode()))


@pytest.mark.parametrize("tamper", ["in_response_to", "destination", "status", "unsigned", "altered"])
def test_a_bad_logout_response_is_refused(client, municipality, tamper, caplog):
    answer = _pending_logout(client)
    if tamper == "in_response_to":
        answer.set("InResponseTo", "_other")
    elif tamper == "destination":
        answer.set("Destination", "http://evil.example/spid/slo/")
    elif tamper == "status":
        answer.find("samlp:Status/samlp:StatusCode", NS).set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    elif tamper == "unsigned":
        answer.remove(answer.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    else:
        answer.set("IssueInstant", "2000-01-01T00:00:00Z")
    data = etree.tostring(answer)
    if tamper in ("in_response_to", "destination", "status"):  # signed again by the IdP: the fields refuse it
        answer.remove(answer.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
        key_file, cert_file = idp.demo_credentials_ensure()
        insert_signature(answer, cert_pem=cert_file.read_text())
        data = sign_document(answer, key_file=key_file, cert_file=cert_file,
                             id_nodes=["urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse"])
    with caplog.at_level(logging.INFO, logger="identity.views"):
        response = client.post("/spid/slo/", {"SAMLResponse": base64.b64encode(data).decode()})
    assert response.status_code == 400
    assert "non è valido" in response.content.decode()
    expected = {"unsigned": "signature", "altered": "signature"}.get(tamper, tamper)
    assert f"refused: {expected}" in caplog.text


def test_a_valid_signature_with_wrong_fields_is_refused(client, municipality):
    """The IdP's own key signs a response to another request: the signature is fine, InResponseTo is not."""
    _pending_logout(client)
    forged = idp.logout_response_build(in_response_to="_not_ours")
    response = client.post("/spid/slo/", {"SAMLResponse": base64.b64encode(forged).decode()})
    assert response.status_code == 400


def test_the_idp_ends_the_session_and_the_sp_answers_signed(client, municipality):
    _sign_in(client)
    page = client.get("/demo-idp/esci/")
    assert page.status_code == 200 and "Esci da tutti i servizi" in page.content.decode()
    to_sp = client.post("/demo-idp/esci/")
    assert to_sp.status_code == 302 and to_sp["Location"].startswith("http://testserver/spid/slo/")
    raw, query = _query(to_sp["Location"])
    answered = client.get("/spid/slo/", query, QUERY_STRING=raw)
    assert "_auth_user_id" not in client.session
    assert answered.status_code == 302 and answered["Location"].startswith(idp.slo_url())
    raw_back, back = _query(answered["Location"])
    response = parse_xml(redirect_decode(back["SAMLResponse"]))
    assert response.find("samlp:Status/samlp:StatusCode", NS).get("Value") == STATUS_SUCCESS
    assert response.get("InResponseTo") == parse_xml(redirect_decode(query["SAMLRequest"])).get("ID")
    done = client.get("/demo-idp/slo/", back, QUERY_STRING=raw_back)  # the IdP checks the SP's signature
    assert done.status_code == 200 and "Sei uscito" in done.content.decode()


def test_an_idp_logout_request_for_someone_else_leaves_the_session(client, municipality):
    _sign_in(client)
    url = idp.logout_request_url(name_id="_somebody_else", session_index="_x")
    raw, query = _query(url)
    answered = client.get("/spid/slo/", query, QUERY_STRING=raw)
    assert "_auth_user_id" in client.session
    response = parse_xml(redirect_decode(_query(answered["Location"])[1]["SAMLResponse"]))
    assert response.find("samlp:Status/samlp:StatusCode", NS).get("Value") != STATUS_SUCCESS


def test_an_unsigned_or_tampered_idp_logout_request_is_refused(client, municipality):
    _sign_in(client)
    url = idp.logout_request_url(name_id=client.session["identity_name_id"],
                                 session_index=client.session["identity_session_index"])
    raw, query = _query(url)
    unsigned = "&".join(p for p in raw.split("&") if not p.startswith("Signature="))
    assert client.get("/spid/slo/", {k: v for k, v in query.items() if k != "Signature"},
                      QUERY_STRING=unsigned).status_code == 400
    xml = redirect_decode(query["SAMLRequest"]).replace(b"_", b"_x", 1)
    from identity.saml import redirect_encode

    forged = raw.replace(urllib.parse.quote_plus(query["SAMLRequest"]), urllib.parse.quote_plus(redirect_encode(xml)))
    assert client.get("/spid/slo/", {**query, "SAMLRequest": redirect_encode(xml)},
                      QUERY_STRING=forged).status_code == 400
    assert "_auth_user_id" in client.session
    assert client.post("/spid/slo/").status_code == 400  # no SAML message: nothing happens
    assert "_auth_user_id" in client.session


def test_the_demo_idp_metadata_declares_its_slo(client):
    root = parse_xml(client.get("/demo-idp/metadata/").content)
    slo = root.find(".//md:SingleLogoutService", NS)
    assert slo is not None and slo.get("Location") == idp.slo_url()
    assert re.search("/demo-idp/slo/$", idp.demo_identity_provider().slo_url)
