"""A citizen signs in with SPID through the demo identity provider: the real SAML flow, end to end."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from django.test import RequestFactory
from lxml import etree

from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditEvent
from identity.decorators import require_loa
from identity.saml import NS, RSA_SHA256, parse_xml, redirect_decode, verify_signature
from identity.services import SESSION_LOA
from tests.identity.conftest import start_login

pytestmark = pytest.mark.django_db


def test_a_citizen_signs_in_through_the_demo_idp_with_spid_level_2(client, municipality):
    started = start_login(client, level="SpidL2")
    page = client.get("/demo-idp/sso/", started.sso_query)
    assert page.status_code == 200
    assert "PRVGNN90R10H501Q" in page.content.decode()
    form = client.post("/demo-idp/sso/", {**started.sso_query, "identity": "PRVGNN90R10H501Q", "level": "SpidL2"})
    assert form.status_code == 200
    html = form.content.decode()
    assert 'action="http://testserver/spid/acs/"' in html
    assert "<script src=" in html and "<script>" not in html  # no inline script under the CSP

    done = client.post("/spid/acs/", {"SAMLResponse": re.search(r'name="SAMLResponse" value="([^"]+)"', html).group(1)})

    assert done.status_code == 302 and done["Location"] == "/spid/benvenuto/"
    user = User.objects.get(username="cf:PRVGNN90R10H501Q")
    assert (user.fiscal_code, user.first_name, user.last_name) == ("PRVGNN90R10H501Q", "Giovanni", "Prova")
    assert not user.has_usable_password()
    assert Membership.objects.filter(user=user, tenant=municipality, role=Role.CITIZEN, is_active=True).exists()
    assert client.session[SESSION_LOA] == "SpidL2"
    assert int(client.session["_auth_user_id"]) == user.pk
    event = AuditEvent.objects.get(action="login", actor=user, object_type="identity")
    assert event.tenant == municipality and event.extra["level"] == "SpidL2" and event.extra["scheme"] == "spid"
    welcome = client.get("/spid/benvenuto/")
    assert "PRVGNN90R10H501Q" in welcome.content.decode() and "SpidL2" in welcome.content.decode()


def test_signing_in_again_reuses_the_citizen_account_and_records_the_new_level(client, municipality):
    for level in ("SpidL2", "SpidL3"):
        started = start_login(client, level=level)
        form = client.post("/demo-idp/sso/", {**started.sso_query, "identity": "RSSMRA80A41H501Y", "level": level})
        client.post("/spid/acs/", {"SAMLResponse": re.search(r'name="SAMLResponse" value="([^"]+)"',
                                                             form.content.decode()).group(1)})
    assert User.objects.filter(fiscal_code="RSSMRA80A41H501Y").count() == 1
    assert client.session[SESSION_LOA] == "SpidL3"
    assert AuditEvent.objects.filter(action="login", object_type="identity", object_repr="RSSMRA80A41H501Y").count() == 2


def test_an_operator_with_the_same_fiscal_code_is_not_signed_in_as_the_operator(client, municipality):
    from tests.factories import make_user

    operator = make_user(municipality, Role.REGISTRAR, username="registrar", fiscal_code="PRVGNN90R10H501Q")
    started = start_login(client)
    form = client.post("/demo-idp/sso/", {**started.sso_query, "identity": "PRVGNN90R10H501Q", "level": "SpidL2"})
    client.post("/spid/acs/", {"SAMLResponse": re.search(r'name="SAMLResponse" value="([^"]+)"',
                                                         form.content.decode()).group(1)})
    assert int(client.session["_auth_user_id"]) != operator.pk


def test_an_existing_citizen_only_account_with_that_fiscal_code_is_the_one_signed_in(client, municipality):
    from tests.factories import make_user

    citizen = make_user(municipality, Role.CITIZEN, username="citizen.roma", fiscal_code="PRVGNN90R10H501Q")
    started = start_login(client)
    form = client.post("/demo-idp/sso/", {**started.sso_query, "identity": "PRVGNN90R10H501Q", "level": "SpidL2"})
    client.post("/spid/acs/", {"SAMLResponse": re.search(r'name="SAMLResponse" value="([^"]+)"',
                                                         form.content.decode()).group(1)})
    assert int(client.session["_auth_user_id"]) == citizen.pk
    assert not User.objects.filter(username="cf:PRVGNN90R10H501Q").exists()


def test_the_authn_request_is_signed_and_shaped_as_spid_wants(client, municipality, settings):
    started = start_login(client, level="SpidL2")
    query = started.sso_query
    assert query["SigAlg"] == RSA_SHA256
    request = parse_xml(redirect_decode(query["SAMLRequest"]))
    assert request.get("ForceAuthn") == "true"
    assert request.get("AssertionConsumerServiceIndex") == "0"
    assert request.get("AttributeConsumingServiceIndex") == "0"
    issuer = request.find("saml:Issuer", NS)
    assert issuer.text == settings.PROCEDO_SPID_ENTITY_ID and issuer.get("NameQualifier") == settings.PROCEDO_SPID_ENTITY_ID
    assert request.find("samlp:NameIDPolicy", NS).get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    context = request.find("samlp:RequestedAuthnContext", NS)
    assert context.get("Comparison") == "minimum"
    assert context.findtext("saml:AuthnContextClassRef", namespaces=NS) == "https://www.spid.gov.it/SpidL2"
    level1 = parse_xml(redirect_decode(start_login(client, level="SpidL1").sso_query["SAMLRequest"]))
    assert level1.get("ForceAuthn") is None


def test_the_demo_idp_refuses_a_request_whose_signature_does_not_match(client, municipality):
    started = start_login(client)
    tampered = {**started.sso_query, "RelayState": "changed"}
    assert client.get("/demo-idp/sso/", tampered).status_code == 404


def test_the_metadata_is_signed_and_carries_the_agid_extensions(client, settings):
    response = client.get("/spid/metadata/")
    assert response.status_code == 200
    data = response.content
    root = etree.fromstring(data)
    cert = Path(settings.PROCEDO_SPID_CERT_FILE).read_text()
    assert verify_signature(data, cert_pems=[cert], id_nodes=["urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"],
                            node_xpath="/*[local-name()='EntityDescriptor']/*[local-name()='Signature']")
    md = {"md": NS["md"], "spid": NS["spid"]}
    assert root.findtext("md:ContactPerson[@contactType='other']/md:Extensions/spid:IPACode", namespaces=md) == "c_h501"
    assert root.find("md:ContactPerson[@contactType='other']/md:Extensions/spid:Public", md) is not None
    acs = root.find("md:SPSSODescriptor/md:AssertionConsumerService", md)
    assert (acs.get("index"), acs.get("isDefault"), acs.get("Location")) == ("0", "true", "http://testserver/spid/acs/")
    indexes = [e.get("index") for e in root.iterfind("md:SPSSODescriptor/md:AttributeConsumingService", md)]
    assert indexes == ["0", "99", "100"]
    assert root.find("md:SPSSODescriptor/md:SingleLogoutService", md) is not None
    assert root.find("md:SPSSODescriptor/md:AttributeConsumingService/md:ServiceName", md).text == "Servizi online demografici"


def test_the_sp_certificate_follows_avviso_spid_29(client, settings):
    from cryptography import x509

    client.get("/spid/metadata/")
    cert = x509.load_pem_x509_certificate(Path(settings.PROCEDO_SPID_CERT_FILE).read_bytes())
    org_id = cert.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))[0].value
    assert org_id == f"PA:IT-{settings.PROCEDO_SPID_IPA_CODE}"
    policies = {p.policy_identifier.dotted_string for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value}
    assert {"1.3.76.16.6", "1.3.76.16.4.2.1"} <= policies
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert cert.public_key().key_size >= 2048


def test_require_loa_sends_a_lower_level_session_back_to_the_identity_choice(municipality):
    @require_loa("SpidL2")
    def view(request):
        from django.http import HttpResponse

        return HttpResponse("ok")

    user = User.objects.create(username="cf:X")
    for level, expected in (("SpidL1", 302), ("SpidL2", 200), ("SpidL3", 200), (None, 302)):
        request = RequestFactory().get("/servizio/")
        request.user = user
        request.session = {SESSION_LOA: level} if level else {}
        response = view(request)
        assert response.status_code == expected, level
        if expected == 302:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response["Location"]).query))
            assert query == {"livello": "SpidL2", "next": "/servizio/"}


def test_the_login_page_offers_spid_with_the_demo_idp(client, municipality):
    page = client.get("/accedi/").content.decode()
    assert "Entra con SPID" in page
    assert "/spid/accedi/avvia/?idp=http%3A%2F%2Ftestserver%2Fdemo-idp%2Fmetadata%2F" in page


def test_production_does_not_mount_or_serve_the_demo_idp(client, settings, municipality):
    settings.PROCEDO_ENV = "production"
    assert client.get("/demo-idp/metadata/").status_code == 404
    assert client.get("/demo-idp/sso/").status_code == 404
    assert "demo-idp" not in client.get("/spid/accedi/").content.decode()
    # And the setting itself is forced off in production, whatever the environment says.
    code = "from django.conf import settings; print(settings.PROCEDO_SPID_DEMO_IDP); import config.urls as u; " \
           "print(any('demo-idp' in str(p.pattern) or getattr(p, 'app_name', '') == 'demo_idp' for p in u.urlpatterns))"
    env = {"PROCEDO_ENV": "production", "DEBUG": "1", "PROCEDO_SPID_DEMO_IDP": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], env=env,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


def test_eidas_goes_through_the_italian_node_with_attribute_set_99_and_its_own_button(client, municipality, settings,
                                                                                       tmp_path):
    from identity.demo_idp import idp as demo

    node = tmp_path / "ficep.xml"
    node.write_bytes(demo.metadata_xml().replace(demo.entity_id().encode(), b"https://eidas.example/node")
                     .replace(b"Demo IdP (Procedo)", b"Nodo eIDAS italiano"))
    settings.PROCEDO_SPID_IDP_METADATA = [f"eidas={node}"]
    page = client.get("/accedi/").content.decode()
    assert "Login with eIDAS" in page
    response = client.get("/spid/accedi/avvia/", {"idp": "https://eidas.example/node"})
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response["Location"]).query))
    request = parse_xml(redirect_decode(query["SAMLRequest"]))
    assert request.get("AttributeConsumingServiceIndex") == "99"
    full = client.get("/spid/accedi/avvia/", {"idp": "https://eidas.example/node", "attributi": "100"})
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(full["Location"]).query))
    assert parse_xml(redirect_decode(query["SAMLRequest"])).get("AttributeConsumingServiceIndex") == "100"


def test_the_cie_metadata_carries_the_cie_extensions(client):
    root = etree.fromstring(client.get("/cie/metadata/").content)
    ns = {"md": NS["md"], "cie": NS["cie"]}
    contact = root.find("md:ContactPerson[@contactType='administrative']", ns)
    assert contact.find("md:Extensions/cie:Public", ns) is not None
    assert contact.findtext("md:Extensions/cie:IPACode", namespaces=ns) == "c_h501"
    assert contact.findtext("md:Extensions/cie:Municipality", namespaces=ns) == "058091"
    names = [e.get("Name") for e in root.iterfind(".//md:RequestedAttribute", ns)]
    assert sorted(names) == ["dateOfBirth", "familyName", "fiscalNumber", "name"]


def test_unreadable_idp_metadata_or_a_missing_sp_key_in_production_fail_the_system_check(settings, tmp_path):
    from identity.checks import identity_configuration

    settings.PROCEDO_SPID_IDP_METADATA = [str(tmp_path / "missing.xml")]
    assert [e.id for e in identity_configuration()] == ["identity.E001"]
    good = tmp_path / "idp.xml"
    from identity.demo_idp import idp as demo

    good.write_bytes(demo.metadata_xml())
    settings.PROCEDO_SPID_IDP_METADATA = [str(good)]
    assert identity_configuration() == []
    settings.PROCEDO_ENV = "production"
    settings.PROCEDO_SPID_KEY_FILE = str(tmp_path / "none.key")
    assert [e.id for e in identity_configuration()] == ["identity.E002"]
