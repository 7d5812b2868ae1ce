"""ANPR through PDND: vouchers, ModI headers, REST lookups, SOAP register changes and citizen
requests, against the PDND and ANPR simulators over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import jwt
import openpyxl
import pytest
from django.conf import settings as django_settings

from common import clock
from common.operations import PermanentError, RetryableError, get_operation
from connectors.anpr import messages, soap
from connectors.anpr.client import client_for, soap_operation_id
from connectors.anpr.request_states import STATES
from connectors.anpr.services import ESERVICES
from connectors.anpr.simulator import ERRORS, AnprSimulator, KeySource
from connectors.base.errors import PlatformRefused
from connectors.base.openapi import errors_for, request_pointer
from connectors.base.simulator import SimulatorServer
from connectors.pdnd import voucher as voucher_module
from connectors.pdnd.keys import client_key, demo_keys_dir
from connectors.pdnd.simulator import PdndSimulator
from engine.models import InstanceStatus, ProcessVersion, WorkflowInstance
from engine.registry import process_version_publish
from engine.selectors import instance_data
from engine.services import instance_start, outbox_deliver_due
from tests.connectors.base.support import ctx_for
from tests.engine_models import inline_bundle
from tests.factories import make_tenant

CF = "PRVGNN90R10H501Q"
ADDRESS = {"street": "Via Roma", "house_number": "12B", "postal_code": "55012", "municipality_istat": "046007"}


@pytest.fixture
def platforms(monkeypatch):
    pdnd = PdndSimulator(keys_dir=demo_keys_dir())
    anpr = AnprSimulator(keys=KeySource(pdnd=pdnd))
    voucher_module.forget_vouchers()
    with SimulatorServer(pdnd) as pdnd_server, SimulatorServer(anpr) as anpr_server:
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_BASE_URL", anpr_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_BASE_URL", pdnd_server.url)
        monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", pdnd_server.url + "/token.oauth2")
        monkeypatch.setattr(django_settings, "PROCEDO_ANPR_TIMEOUT", "3")
        yield pdnd, anpr, pdnd_server, anpr_server
    voucher_module.forget_vouchers()


def _client():
    return client_for(None, "046007")


def _tokens(pdnd):
    return pdnd.recorded("POST", "/token.oauth2")


def test_every_jwt_we_send_is_signed_with_our_key_and_binds_body_and_audit(platforms):
    pdnd, anpr, pdnd_server, anpr_server = platforms
    result = _client().lookup("C021", CF)
    assert result.found
    key = client_key({}, "046007")
    public = key.private_key.public_key()

    (token_request,) = _tokens(pdnd)
    form = dict(pair.split("=", 1) for pair in token_request.body.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assertion = jwt.decode(form["client_assertion"].replace("%2B", "+"), public, algorithms=["RS256"],
                           audience=pdnd_server.url + "/token.oauth2")
    assert jwt.get_unverified_header(form["client_assertion"])["kid"] == key.kid
    assert assertion["iss"] == assertion["sub"] == key.client_id
    assert {"jti", "iat", "exp", "purposeId"} <= assertion.keys()
    assert assertion["exp"] - assertion["iat"] <= 300

    (call,) = anpr.recorded("POST", "/C021")
    audience = f"{anpr_server.url}/{ESERVICES['C021'].path_name}/v1"
    voucher = jwt.decode(call.headers["Authorization"].removeprefix("Bearer "), pdnd.public_key,
                         algorithms=["RS256"], audience=pdnd.voucher_audience)
    assert voucher["purposeId"] == assertion["purposeId"] and voucher["client_id"] == key.client_id

    expected_digest = "SHA-256=" + base64.b64encode(hashlib.sha256(call.body).digest()).decode()
    assert call.headers["Digest"] == expected_digest
    signature = jwt.decode(call.headers["Agid-JWT-Signature"], public, algorithms=["RS256"], audience=audience)
    assert {"digest": expected_digest} in signature["signed_headers"]
    assert {"content-type": "application/json"} in signature["signed_headers"]

    evidence_token = call.headers["Agid-JWT-TrackingEvidence"]
    evidence = jwt.decode(evidence_token, public, algorithms=["RS256"], audience=audience)
    assert evidence["userID"] and evidence["userLocation"] and evidence["LoA"]
    # AUDIT_REST_02: the voucher was asked for this very evidence.
    assert assertion["digest"] == {"alg": "SHA256", "value": hashlib.sha256(evidence_token.encode()).hexdigest()}
    assert voucher["digest"] == assertion["digest"]


def test_lookups_agree_with_each_other_and_follow_the_openapi_contracts(platforms):
    pdnd, anpr, *_ = platforms
    client = _client()
    residence = client.lookup("C020", CF)
    family = client.lookup("C021", CF)
    national = client.lookup("C030", CF)
    (person,) = residence.subjects
    assert person["address"]["street"] == "DEI COLLI" and person["address"]["municipality_istat"] == "046007"
    assert person["family_id_anpr"]
    assert [s["given_name"] for s in family.subjects] == ["GIOVANNI", "MARIA"]
    assert national.subjects[0]["id_anpr"] == person["id_anpr"] == family.subjects[0]["id_anpr"]
    for code in ("C020", "C021", "C030"):
        (sent,) = anpr.recorded("POST", f"/{ESERVICES[code].path_name}")
        spec = ESERVICES[code].spec
        assert errors_for(spec, request_pointer(spec, "post", "/anpr-service-e002"), json.loads(sent.body)) == []
    missing = client.lookup("C020", "XXXXXX90R10H501Q")
    assert missing.found is False and missing.error_code == "EN130"
    # Vouchers are reused: one per (purpose, audit evidence), not one per call.
    assert len(_tokens(pdnd)) == 3


def test_a_voucher_refused_by_anpr_is_renewed_once_then_the_call_fails_clearly(platforms, monkeypatch):
    pdnd, anpr, *_ = platforms
    client = _client()
    client.lookup("C020", CF)
    # PDND rotates its signing key: the cached voucher no longer verifies at ANPR.
    pdnd.signing_key, pdnd.signing_kid = PdndSimulator().signing_key, "rotated"
    assert client.lookup("C020", CF).found
    assert len(_tokens(pdnd)) == 2
    # An expired voucher the client still believed fresh (clock skew) is renewed the same way.
    monkeypatch.setattr(voucher_module, "REFRESH_MARGIN", -30)
    pdnd.voucher_ttl = 1
    voucher_module.forget_vouchers()
    client.lookup("C020", CF)
    pdnd.voucher_ttl = 600  # the renewal below gets a long-lived voucher, however slow the machine
    time.sleep(2.1)  # the first voucher expires at PDND's clock
    assert client.lookup("C020", CF).found
    assert len(_tokens(pdnd)) == 4  # the expired one, then its one renewal
    # A voucher ANPR never accepts: renewed once, then a permanent, readable failure.
    anpr.voucher_audience = "another-eservice"
    before = len(_tokens(pdnd))
    with pytest.raises(PlatformRefused) as info:
        client.lookup("C020", CF)
    assert info.value.platform_code == "PDND_AUTH" and "voucher" in str(info.value)
    assert len(_tokens(pdnd)) == before + 1


def test_pdnd_refuses_an_assertion_signed_with_an_unregistered_key(platforms, tmp_path, settings):
    pdnd, *_ = platforms
    settings.PROCEDO_PDND_KEYS_DIR = str(tmp_path)  # a key PDND has never seen
    with pytest.raises(PlatformRefused) as info:
        client_for(None, "099999").lookup("C020", CF)
    assert info.value.platform_code == "401-0001"


@pytest.mark.django_db
def test_change_of_residence_is_applied_once_and_annulled_restoring_the_family(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    # Giovanni declares for himself and his wife moving with him: their whole ANPR family moves.
    params = {"declarants": [{"fiscal_code": CF, "given_name": "Giovanni", "family_name": "Prova"}],
              "co_movers": [{"fiscal_code": "PRVMRA92A41E715X", "given_name": "Maria", "family_name": "Prova",
                             "relationship": "spouse"}],
              "new_address": ADDRESS, "declaration_date": "2026-11-20", "case_number": "2026/000042",
              "origin": "same_municipality"}
    change = get_operation("anpr.mutazione_residenza")(params, ctx_for(tenant, key="case-42-anpr"))
    assert change["operation"] == "5005" and change["id_operazione_anpr"]
    assert change["scope"] == "whole_family"
    for cf in (CF, "PRVMRA92A41E715X"):
        lookup = _client().lookup("C020", cf)
        assert lookup.subjects[0]["address"]["street"] == "ROMA"
        assert lookup.subjects[0]["address"]["house_number"] == "12"
    # The same register change sent again (a retry after a lost answer) is answered, not repeated.
    client = _client()
    payload = messages.mutazione_residenza(client.header("5005", change["operation_id"]),
                                           family_id_anpr=change["family_id_anpr"],
                                           address={"postcode": "55012", "municipality_istat": "046007",
                                                    "municipality_name": "CAPANNORI", "province": "LU",
                                                    "street": "ROMA", "house_number": "12"},
                                           effective_date="2026-11-20")
    assert client.call(soap.MUTAZIONE, payload).anpr_operation_id == change["id_operazione_anpr"]
    assert [c["operation"] for c in anpr.changes] == ["5005"]

    undo = get_operation("anpr.annullamento_mutazione")(
        {"declarants": params["declarants"], "registration_result": change}, ctx_for(tenant, key="case-42-undo"))
    assert undo["operation"] == "5012"
    assert _client().lookup("C020", CF).subjects[0]["address"]["street"] == "DEI COLLI"
    with pytest.raises(PlatformRefused) as info:
        get_operation("anpr.annullamento_mutazione")(
            {"declarants": params["declarants"], "registration_result": change}, ctx_for(tenant, key="again"))
    assert info.value.platform_code == "EN078" and isinstance(info.value, PermanentError)
    assert "EN078" in str(info.value)


@pytest.mark.django_db
def test_registration_from_abroad_is_a_1002_and_its_annulment_a_1013(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    newcomer = {"fiscal_code": "DPNJNE85T41Z110A", "given_name": "Jeanne", "family_name": "Dupont",
                "birth_date": "1985-12-01"}
    change = get_operation("anpr.mutazione_residenza")(
        {"declarants": [newcomer], "new_address": ADDRESS, "declaration_date": "2026-11-20", "origin": "abroad"},
        ctx_for(tenant))
    assert change["operation"] == "1002"
    assert _client().lookup("C020", newcomer["fiscal_code"]).found
    undo = get_operation("anpr.annullamento_mutazione")(
        {"declarants": [newcomer], "registration_result": change}, ctx_for(tenant))
    assert undo["operation"] == "1013"
    assert not _client().lookup("C020", newcomer["fiscal_code"]).found


@pytest.mark.django_db
def test_a_death_is_sent_as_a_2001_once_and_the_person_leaves_the_register(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    params = {"person": {"fiscal_code": CF, "family_name": "Prova", "given_name": "Giovanni", "sex": "M",
                         "birth_date": "1990-10-10"},
              "death_date": "2026-11-20", "act": {"year": 2026, "part": "1", "series": "", "number": 7,
                                                  "date": "2026-11-21"}}
    sent = get_operation("anpr.cancellazione_decesso")(params, ctx_for(tenant, key="anpr-notification-1"))
    assert sent["operation"] == "2001" and sent["id_operazione_anpr"]
    assert not _client().lookup("C020", CF).found
    # the same notification sent again (a lost answer) gets the first answer, nothing changes twice
    again = get_operation("anpr.cancellazione_decesso")(params, ctx_for(tenant, key="anpr-notification-1"))
    assert again["id_operazione_anpr"] == sent["id_operazione_anpr"]
    assert [(c["operation"], c["act_number"]) for c in anpr.changes] == [("2001", "7")]
    # someone ANPR does not know as resident: refused for good (EN130), not retried
    with pytest.raises(PlatformRefused) as info:
        get_operation("anpr.cancellazione_decesso")(
            {**params, "person": {**params["person"], "fiscal_code": "XXXXXX90R10H501Q"}},
            ctx_for(tenant, key="anpr-notification-2"))
    assert info.value.platform_code == "EN130" and isinstance(info.value, PermanentError)


FAMILY_FROM_ABROAD = {
    "declarants": [{"fiscal_code": "DPNJNE85T41Z110A", "given_name": "Jeanne", "family_name": "Dupont",
                    "birth_date": "1985-12-01"},
                   {"fiscal_code": "DPNPRR84A01Z110S", "given_name": "Pierre", "family_name": "Dupont",
                    "birth_date": "1984-01-01", "relationship": "coniuge"}],
    "co_movers": [{"fiscal_code": "DPNLCU15M01Z110K", "given_name": "Luc", "family_name": "Dupont",
                   "birth_date": "2015-08-01", "relationship": "child"}],
    "new_address": ADDRESS, "declaration_date": "2026-11-20", "origin": "abroad"}


@pytest.mark.django_db
def test_each_person_from_abroad_gets_their_own_1002_in_one_family_once_even_across_a_failed_call(
        platforms, monkeypatch):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    original, failed = anpr.on_soap, []

    def down_for_pierre_once(request, service_path):
        # ANPR is unreachable when the second person's registration is sent, once.
        if b"DPNPRR84A01Z110S" in request.get_data(cache=True) and not failed:
            failed.append(True)
            from werkzeug.wrappers import Response
            return Response("unavailable", status=503)
        return original(request, service_path)

    monkeypatch.setattr(anpr, "on_soap", down_for_pierre_once)
    operation = get_operation("anpr.mutazione_residenza")
    with pytest.raises(RetryableError):
        operation(FAMILY_FROM_ABROAD, ctx_for(tenant, key="case-7-anpr"))
    change = operation(FAMILY_FROM_ABROAD, ctx_for(tenant, key="case-7-anpr"))  # the outbox's retry

    # Jeanne was registered once (her retried 1002 got ANPR's first answer back), then Pierre and Luc.
    assert [(c["fiscal_code"], c["relation"]) for c in anpr.changes] == [
        ("DPNJNE85T41Z110A", "1"), ("DPNPRR84A01Z110S", "2"), ("DPNLCU15M01Z110K", "3")]
    assert len({c["family"] for c in anpr.changes}) == 1
    assert change["family_id_anpr"] == anpr.changes[0]["family"] and change["scope"] == "new_family"
    ids = [r["operation_id"] for r in change["registrations"]]
    assert len(set(ids)) == 3 and ids[0] == soap_operation_id("case-7-anpr:DPNJNE85T41Z110A")
    family = _client().lookup("C021", "DPNLCU15M01Z110K")
    assert {(s["fiscal_code"], s["relation"]) for s in family.subjects} == {
        ("DPNJNE85T41Z110A", "1"), ("DPNPRR84A01Z110S", "2"), ("DPNLCU15M01Z110K", "3")}

    undo = get_operation("anpr.annullamento_mutazione")(
        {**FAMILY_FROM_ABROAD, "registration_result": change}, ctx_for(tenant, key="case-7-undo"))
    assert [a["operation"] for a in undo["annulments"]] == ["1013", "1013", "1013"]
    assert [a["fiscal_code"] for a in undo["annulments"]] == [
        "DPNLCU15M01Z110K", "DPNPRR84A01Z110S", "DPNJNE85T41Z110A"]  # the last registered first (EN077)
    for person in [*FAMILY_FROM_ABROAD["declarants"], *FAMILY_FROM_ABROAD["co_movers"]]:
        assert not _client().lookup("C020", person["fiscal_code"]).found


@pytest.mark.django_db
def test_people_from_another_comune_joining_a_household_here_are_attached_to_its_family(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    giovanni_family = _client().lookup("C020", CF).subjects[0]["family_id_anpr"]
    change = get_operation("anpr.mutazione_residenza")(
        {"declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi",
                         "relationship": "convivente"}],
         "joins_household_of": CF, "new_address": ADDRESS, "declaration_date": "2026-11-20",
         "origin": "other_municipality", "previous_municipality": "046017"}, ctx_for(tenant))
    assert change["operation"] == "1002" and change["scope"] == "join_family"
    assert change["family_id_anpr"] == giovanni_family
    family = _client().lookup("C021", CF)
    assert ("RSSMRA80A01H501U", "23") in {(s["fiscal_code"], s["relation"]) for s in family.subjects}


@pytest.mark.django_db
def test_moving_into_another_family_within_the_comune_is_sent_to_anpr_and_annulled_back(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    laura = "BNCLRA85M41E715O"  # alone in her family in via del Popolo; moves in with Giovanni's
    giovanni_family = _client().lookup("C020", CF).subjects[0]["family_id_anpr"]
    params = {"declarants": [{"fiscal_code": laura, "given_name": "Laura", "family_name": "Bianchi",
                              "relationship": "cohabitant"}],
              "joins_household_of": CF, "new_address": {**ADDRESS, "street": "Via dei Colli", "house_number": "4"},
              "declaration_date": "2026-11-20", "origin": "same_municipality"}
    change = get_operation("anpr.mutazione_residenza")(params, ctx_for(tenant, key="case-9-anpr"))
    assert change["operation"] == "5005" and change["scope"] == "join_family"
    assert anpr.changes[-1]["scope"] == "join" and anpr.changes[-1]["people"] == [laura]
    moved = _client().lookup("C020", laura).subjects[0]
    assert moved["family_id_anpr"] == giovanni_family and moved["address"]["street"] == "DEI COLLI"
    assert (laura, "23") in {(s["fiscal_code"], s["relation"]) for s in _client().lookup("C021", CF).subjects}
    # Giovanni's own position is untouched
    assert _client().lookup("C021", CF).subjects[0]["fiscal_code"] == CF

    get_operation("anpr.annullamento_mutazione")({**params, "registration_result": change},
                                                 ctx_for(tenant, key="case-9-undo"))
    back = _client().lookup("C020", laura).subjects[0]
    assert back["family_id_anpr"] != giovanni_family and back["address"]["street"] == "DEL POPOLO"


@pytest.mark.django_db
def test_a_declarant_leaving_their_family_alone_forms_a_new_one_and_the_others_stay(platforms):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    before = _client().lookup("C020", CF).subjects[0]["family_id_anpr"]
    change = get_operation("anpr.mutazione_residenza")(
        {"declarants": [{"fiscal_code": CF, "given_name": "Giovanni", "family_name": "Prova"}],
         "new_address": ADDRESS, "declaration_date": "2026-11-20", "origin": "same_municipality"},
        ctx_for(tenant))
    assert change["scope"] == "new_family" and change["family_id_anpr"] != before
    assert _client().lookup("C020", CF).subjects[0]["address"]["street"] == "ROMA"
    maria = _client().lookup("C020", "PRVMRA92A41E715X").subjects[0]
    assert maria["family_id_anpr"] == before and maria["address"]["street"] == "DEI COLLI"


def test_the_simulator_refuses_family_data_anpr_would_refuse(platforms):
    client = _client()
    address = {"postcode": "55012", "municipality_istat": "046007", "municipality_name": "CAPANNORI",
               "province": "LU", "street": "ROMA", "house_number": "1"}
    person = {"fiscal_code": "DPNJNE85T41Z110A", "family_name": "DUPONT", "given_name": "JEANNE"}

    def refused(service, payload):
        with pytest.raises(PlatformRefused) as info:
            client.call(service, payload)
        return info.value.platform_code

    def registration(n, **family):
        return messages.iscrizione(client.header("1002", str(n)), person=person, address=address,
                                   effective_date="2026-11-20", family=family or None)

    assert refused(soap.ISCRIZIONE, registration(1, family_id_anpr="999", movement="3", relationship="3",
                                                 since="2026-11-20")) == "EF002"
    assert refused(soap.ISCRIZIONE, registration(2, family_id_anpr="999", movement="1", relationship="1",
                                                 since="2026-11-20")) == "EF017"
    assert refused(soap.ISCRIZIONE, registration(3, family_id_anpr=None, movement="1", relationship="3",
                                                 since="2026-11-20")) == "EF021"
    assert refused(soap.ISCRIZIONE, registration(4, family_id_anpr=None, movement="3", relationship="3",
                                                 since="2026-11-20")) == "EF011"
    assert refused(soap.MUTAZIONE, messages.mutazione_residenza(
        client.header("5005", "5"), family_id_anpr="123", address=address, effective_date="2026-11-20",
        members=[{**person, "fiscal_code": CF, "relationship": "1"}], sheet=messages.SHEET_NEW)) == "EF017"
    assert refused(soap.MUTAZIONE, messages.mutazione_residenza(
        client.header("5005", "6"), family_id_anpr=None, address=address, effective_date="2026-11-20",
        members=[{**person, "fiscal_code": CF, "relationship": "77"}], sheet=messages.SHEET_NEW)) == "EC002"


def test_someone_not_resident_cannot_have_a_change_within_the_comune(platforms, db):
    tenant = make_tenant(istat="046007")
    with pytest.raises(PermanentError) as info:
        get_operation("anpr.mutazione_residenza")(
            {"declarants": [{"fiscal_code": "XXXXXX90R10H501Q", "given_name": "A", "family_name": "B"}],
             "new_address": ADDRESS, "origin": "same_municipality"}, ctx_for(tenant))
    assert "non risulta residente" in str(info.value)


def test_every_message_we_build_satisfies_the_official_xsd():
    header = messages.Header(operation="5005", operation_id="1", sender="046007")
    address = {"postcode": "55012", "municipality_istat": "046007", "municipality_name": "CAPANNORI",
               "province": "LU", "street": "ROMA", "house_number": "1"}
    person = {"fiscal_code": CF, "family_name": "PROVA", "given_name": "GIOVANNI", "sex": "M",
              "birth_date": "1990-10-10", "birth_place": {"name": "ROMA", "istat": "058091", "province": "RM"}}
    annulled = {"operation": "5005", "operation_id": "1", "anpr_operation_id": "7"}
    built = [
        (soap.MUTAZIONE, messages.mutazione_residenza(header, family_id_anpr="1", address=address,
                                                      effective_date="2026-11-20", case_number="2026/000001")),
        (soap.ISCRIZIONE, messages.iscrizione(header, person=person, address=address, effective_date="2026-11-20",
                                              provenance={"country_code": "215", "country_name": "FRANCIA"})),
        (soap.MUTAZIONE, messages.annullamento_mutazione(header, annulled=annulled, subject=person)),
        (soap.ISCRIZIONE, messages.annullamento_iscrizione(header, annulled=annulled, subject=person)),
        (soap.CANCELLAZIONE, messages.cancellazione_decesso(
            header, person=person, death_date="2026-11-20", head_of_household=True,
            act={"municipality_name": "CAPANNORI", "municipality_istat": "046007", "province": "LU",
                 "year": 2026, "part": "1", "series": "A", "number": "12", "date": "2026-11-21"})),
        (soap.CANCELLAZIONE, messages.cancellazione_decesso(header, person=person, death_date="2026-11-20")),
        (soap.SERVIZI_CITTADINO, messages.elenco_richieste(header, date_from="2026-11-01", date_to="2026-11-23",
                                                           request_type="2")),
        (soap.SERVIZI_CITTADINO, messages.dettaglio_richiesta(header, request_code="5")),
        (soap.SERVIZI_CITTADINO, messages.aggiorna_richiesta(header, request_code="5", status="3", note="x",
                                                             operator="op")),
        (soap.SERVIZI_CITTADINO, messages.aggiorna_richiesta(header, request_code="5", extension=True,
                                                             operator="op")),
    ]
    for service, payload in built:
        assert soap.schema_errors(payload, service) == [], payload.tag


def test_the_simulator_refuses_hostile_or_invalid_soap(platforms):
    import httpx

    _, anpr, _, anpr_server = platforms
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&e;'
           b"</soapenv:Body></soapenv:Envelope>")
    for body in (xxe, b"<not-soap/>", soap.envelope(messages.dettaglio_richiesta.__globals__["etree"].Element("x"))):
        response = httpx.post(anpr_server.url + soap.MUTAZIONE.path, content=body,
                              headers={"Content-Type": "text/xml"})
        assert response.status_code == 500 and b"Fault" in response.content and b"Client" in response.content
    assert anpr.changes == []


def test_citizen_requests_are_listed_read_and_updated(platforms, db):
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    code = anpr.add_citizen_request(sender="046007", fiscal_code=CF)
    anpr.add_citizen_request(sender="046017", fiscal_code="RSSMRA80A41E715N")  # another comune's
    listed = get_operation("anpr.p001_list")({"type": "2"}, ctx_for(tenant))["requests"]
    assert [r["request_code"] for r in listed] == [code]
    detail = get_operation("anpr.p002_detail")({"request_code": code}, ctx_for(tenant))
    assert detail["applicant"]["fiscal_code"] == CF and detail["new_address"]["municipality_istat"] == "046007"
    get_operation("anpr.p003_update")({"request_code": code, "status": "3", "note": "Presa in carico",
                                       "operator": "registrar"}, ctx_for(tenant))
    assert anpr.citizen_requests[code]["status"] == "3"
    # A state named by its meaning takes its code from the one table; an unknown name is refused.
    # A registrar's note with characters P000 does not admit is sent in the ones it does, not refused.
    get_operation("anpr.p003_update")({"request_code": code, "state": "concluded_favourably",
                                       "note": "nome: MARIO → MARIO GIUSEPPE (16 €)"}, ctx_for(tenant))
    assert anpr.citizen_requests[code]["status"] == STATES["concluded_favourably"]
    assert anpr.citizen_requests[code]["history"][-1][3] == "nome: MARIO - MARIO GIUSEPPE (16 EUR)"
    with pytest.raises(PermanentError) as unknown:
        get_operation("anpr.p003_update")({"request_code": code, "state": "approved"}, ctx_for(tenant))
    assert unknown.value.details == {"state": ["unknown"]}
    with pytest.raises(PermanentError):
        get_operation("anpr.p003_update")({"request_code": code, "status": "3", "note": "x" * 2001}, ctx_for(tenant))
    with pytest.raises(PlatformRefused) as info:
        get_operation("anpr.p002_detail")({"request_code": "999"}, ctx_for(tenant))
    assert info.value.platform_code == "EN130"


def test_the_error_texts_the_simulator_sends_are_anprs_own(settings):
    # ANPR's table of error codes, read from the collection of official specifications (tests only).
    table = Path(settings.PROCEDO_SPECS_DIR) / "anpr" / "xlsx" / "tab_elenco_errori_anpr.xlsx"
    sheet = openpyxl.load_workbook(table, read_only=True)
    official = {str(row[0]): str(row[1]).strip() for ws in sheet for row in ws.iter_rows(values_only=True) if row[0]}
    for code, text in ERRORS.items():
        assert official[code].replace("  ", " ") == text, code


SERVICE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="anpr_move" name="Cambio di abitazione" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="move"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="anpr.mutazione_residenza" resultVariable="anpr_result">
        <spiffworkflow:parameters>
          <spiffworkflow:parameter id="declarants" type="any" value="declarants" />
          <spiffworkflow:parameter id="new_address" type="any" value="new_address" />
          <spiffworkflow:parameter id="declaration_date" type="any" value="'2026-11-20'" />
          <spiffworkflow:parameter id="origin" type="any" value="'same_municipality'" />
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="move" />
    <bpmn:sequenceFlow id="f2" sourceRef="move" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.django_db
def test_anpr_down_for_a_while_delays_the_case_and_the_change_happens_exactly_once(platforms):
    _, anpr, _, anpr_server = platforms
    outcome = process_version_publish(bundle=inline_bundle("anpr_move", "Cambio", {"anpr_move.bpmn": SERVICE_BPMN}))
    version = ProcessVersion.objects.get(definition__process_id="anpr_move", version=outcome.version)
    clock.freeze()
    tenant = make_tenant(istat="046007")
    started = instance_start(tenant=tenant, version=version, case_id=9, case_number="2026/000009", data={
        "declarants": [{"fiscal_code": CF, "given_name": "Giovanni", "family_name": "Prova"}],
        "new_address": ADDRESS})
    anpr_server.stop()
    assert outbox_deliver_due() == {"retry": 1}
    clock.advance(dt.timedelta(minutes=5))
    assert outbox_deliver_due() == {"retry": 1}
    anpr_server.start()
    clock.advance(dt.timedelta(minutes=10))
    assert outbox_deliver_due() == {"done": 1}
    clock.advance(dt.timedelta(hours=2))
    assert outbox_deliver_due() == {}
    instance = WorkflowInstance.objects.get(pk=started.instance.pk)
    assert instance.status == InstanceStatus.COMPLETED
    assert instance_data(instance=instance)["anpr_result"]["operation"] == "5005"
    assert [c["operation"] for c in anpr.changes] == ["5005"]


def test_timeouts_and_5xx_are_retryable(platforms):
    _, anpr, *_ = platforms
    anpr.faults.set(fail_count=1, fail_status=503)
    with pytest.raises(RetryableError):
        _client().call(soap.SERVIZI_CITTADINO, messages.dettaglio_richiesta(
            _client().header("P002", soap_operation_id("x")), request_code="1"))
    anpr.faults.set(delay=4)
    with pytest.raises(RetryableError):
        _client().lookup("C020", CF)
    anpr.faults.clear()


def test_hostile_oversized_or_mistyped_answers_are_refused(platforms, monkeypatch):
    from connectors.base.errors import ResponseTooLarge, UnexpectedContentType, UnsafeXml

    _, anpr, *_ = platforms
    client = _client()

    def p002_request():
        return client.call(soap.SERVIZI_CITTADINO, messages.dettaglio_richiesta(
            client.header("P002", soap_operation_id("hostile")), request_code="1"))

    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
              b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
              b"<x>&lol2;</x></soapenv:Body></soapenv:Envelope>")
    monkeypatch.setattr(AnprSimulator, "_op_P002", lambda self, *args: laughs)
    with pytest.raises(UnsafeXml):
        p002_request()
    anpr.faults.set(oversize_bytes=30 * 1024 * 1024)
    with pytest.raises(ResponseTooLarge):
        client.lookup("C020", CF)
    anpr.faults.clear()
    anpr.faults.set(content_type="text/html")
    with pytest.raises(UnexpectedContentType):
        client.lookup("C020", CF)
    anpr.faults.clear()


# --- the marriage banns' check of what the spouses declared (C020 civil status and residence, C021 household)

GIOVANNI = {"fiscal_code": CF, "residence_municipality": "Capannori", "residence_municipality_istat": "046007"}
LAURA = {"fiscal_code": "BNCLRA85M41E715O", "residence_municipality": "Capannori",
         "residence_municipality_istat": "046007"}


def _status_check(spouses, *, tenant):
    lookup = get_operation("anpr.c020_residence_lookup").fn
    check = get_operation("anpr.spouses_status_check").fn
    ctx = ctx_for(tenant, case_number="2026/000001")
    residences = [lookup({"fiscal_code": s["fiscal_code"], "reason": "test"}, ctx) for s in spouses]
    return check({"spouses": spouses, "residence_lookups": residences, "reason": "test"}, ctx)


@pytest.mark.django_db
def test_spouses_who_declared_what_anpr_knows_pass_the_check_with_their_civil_status_and_household(platforms):
    pdnd, anpr, *_ = platforms
    result = _status_check([GIOVANNI, LAURA], tenant=make_tenant())
    assert result["ok"] is True and result["mismatches"] == []
    giovanni, laura = result["spouses"]
    assert (giovanni["civil_status"], giovanni["civil_status_label"]) == ("1", "celibe/nubile")
    # C021 was asked for each spouse's household: Giovanni lives with a partner (23), not a wife.
    assert {m["fiscal_code"]: m["relation"] for m in giovanni["household"]} == {CF: "1", "PRVMRA92A41E715X": "23"}
    assert laura["household"] == [{"fiscal_code": "BNCLRA85M41E715O", "relation": "1"}]
    assert len(anpr.recorded("POST", f"/{ESERVICES['C021'].path_name}")) == 2


@pytest.mark.django_db
def test_a_married_spouse_a_wrong_residence_and_an_unknown_spouse_are_each_reported(platforms):
    pdnd, anpr, *_ = platforms
    tenant = make_tenant()
    verdi = {"fiscal_code": "VRDGPP70C15G702S", "residence_municipality": "Pisa", "residence_municipality_istat": "050026"}
    result = _status_check([verdi, LAURA], tenant=tenant)
    assert result["ok"] is False
    assert [(m["spouse"], m["field"], m["anpr"]) for m in result["mismatches"]] == [(1, "civil_status", "2")]
    assert "coniugato/a" in result["mismatches"][0]["text"] and "art. 86" in result["mismatches"][0]["text"]

    moved = {**LAURA, "fiscal_code": "RSSMRA80A41E715N"}  # declared Capannori, ANPR has Lucca
    result = _status_check([GIOVANNI, moved], tenant=tenant)
    assert [(m["spouse"], m["field"], m["declared"], m["anpr"]) for m in result["mismatches"]] == [
        (2, "residence_municipality_istat", "046007", "046017")]

    dissolved = {**LAURA, "previous_marriage_dissolved": True}  # ANPR: never married
    result = _status_check([GIOVANNI, dissolved], tenant=tenant)
    assert [(m["spouse"], m["field"]) for m in result["mismatches"]] == [(2, "civil_status")]

    lookup = get_operation("anpr.c020_residence_lookup").fn
    check = get_operation("anpr.spouses_status_check").fn
    ctx = ctx_for(tenant)
    unknown = {**LAURA, "fiscal_code": "XXXXXX90R10H501Q"}
    residences = [lookup({"fiscal_code": CF}, ctx), lookup({"fiscal_code": unknown["fiscal_code"]}, ctx)]
    result = check({"spouses": [GIOVANNI, unknown], "residence_lookups": residences}, ctx)
    assert [(m["spouse"], m["field"]) for m in result["mismatches"]] == [(2, "found")]


@pytest.mark.django_db
def test_a_spouse_whose_anpr_household_has_a_husband_or_wife_is_reported_even_if_the_status_says_free(platforms):
    pdnd, anpr, *_ = platforms
    with anpr.lock:
        anpr.people["PRVMRA92A41E715X"]["relation"] = "2"  # Maria becomes Giovanni's wife in the register
    result = _status_check([GIOVANNI, LAURA], tenant=make_tenant())
    assert [(m["spouse"], m["field"], m["anpr"]) for m in result["mismatches"]] == [(1, "household", "PRVMRA92A41E715X")]


@pytest.mark.django_db
def test_the_status_check_refuses_anything_but_two_spouses_with_their_lookups(platforms):
    check = get_operation("anpr.spouses_status_check").fn
    ctx = ctx_for(make_tenant())
    with pytest.raises(Exception) as caught:
        check({"spouses": [GIOVANNI], "residence_lookups": [{}]}, ctx)
    assert getattr(caught.value, "details", {}) == {"spouses": ["two_required"]}
