"""Change of residence (DOMAIN.md §1) through the REST API, every branch, with the
controllable clock for the 45-day silence-assent and the 10-day answer window.

Service tasks run through the outbox against the connector simulators over HTTP."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest

from accounts.roles import Role
from common import clock
from documents import storage
from documents.models import Document, DossierEntry
from documents.verify import verify_pdf
from engine import services as engine
from tests.factories import api_client, declaration_payload

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)  # Monday 2 March 2026, 09:30 in Rome
DECLARATION = declaration_payload()


@pytest.fixture
def simulators(monkeypatch):
    """Every connector simulator that exists, on an ephemeral port, wired through the settings."""
    from django.conf import settings as django_settings

    from connectors.base.simulator import SimulatorServer

    servers = []
    monkeypatch.setattr(django_settings, "PROCEDO_SEND_SIM_SPEED", 1.0)
    for platform in ("anpr", "pdnd", "appio", "protocollo", "send"):
        try:
            module = importlib.import_module(f"connectors.{platform}.simulator")
        except ModuleNotFoundError:
            continue
        if not hasattr(module, "create_app"):
            continue
        server = SimulatorServer(module.create_app())
        server.start()
        servers.append(server)
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_BASE_URL", server.url)
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "5")
        if platform == "pdnd":
            monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", server.url + "/token.oauth2")
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def signer_2026(tmp_path_factory):
    """A deed signer valid on the frozen dates of these tests (the demo one is issued today)."""
    from documents import pki

    ca = pki.make_ca(now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    issued = pki.issue(ca, "Ufficiale d'anagrafe - Capannori", not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                       not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    path = tmp_path_factory.mktemp("pki") / "signer.p12"
    path.write_bytes(issued.pkcs12("prova", [ca.cert]))
    return {"default": {"kind": "pkcs12", "path": str(path), "passphrase": "prova"}}


@pytest.fixture
def office(simulators, signer_2026, settings, make_office):
    settings.PROCEDO_DOCUMENTS_SIGNERS = signer_2026
    clock.freeze(START)
    return make_office(patron=(7, 25), people={"registrar": Role.REGISTRAR, "police": Role.POLICE,
                                               "viewer": Role.VIEWER})


def _client(office, who):
    return api_client(office[who], office["tenant"])


def _open(office):
    r = _client(office, "registrar").post(
        "/api/v1/cases/", {"process": "residence_change", "data": DECLARATION}, format="json"
    )
    assert r.status_code == 201, r.content
    return r.json()


def _case(office, case_id):
    return _client(office, "registrar").get(f"/api/v1/cases/{case_id}/").json()


def _task(office, case_id, bpmn_id):
    tasks = [t for t in _case(office, case_id)["tasks"] if t["bpmn_id"] == bpmn_id]
    assert tasks, f"{bpmn_id} not open; open: {[t['bpmn_id'] for t in _case(office, case_id)['tasks']]}"
    return tasks[0]


def _complete(office, who, case_id, bpmn_id, data, expect=200):
    task = _task(office, case_id, bpmn_id)
    client = _client(office, who)
    assert client.post(f"/api/v1/tasks/{task['id']}/claim/").status_code == 200
    r = client.post(f"/api/v1/tasks/{task['id']}/complete/", {"data": data}, format="json")
    assert r.status_code == expect, r.content
    return r


def _drain():
    """Deliver every pending service call (what the worker does)."""
    for _ in range(5):
        if not engine.outbox_deliver_due():
            return
    raise AssertionError("outbox did not settle")


def _register(office, case_id):
    _complete(office, "registrar", case_id, "registration", {"origin": "same_municipality", "documents_checked": True})
    _drain()


POSITIVE = {"outcome": "positive", "visit_date": "2026-03-10", "found_at_address": True}
NEGATIVE = {"outcome": "negative", "visit_date": "2026-03-10", "found_at_address": False,
            "negative_reason": "Nessuna traccia di dimora: abitazione disabitata"}
NOTICE = {"reasons": "Il sopralluogo del 10/03/2026 ha accertato che l'abitazione è disabitata.",
          "notice_date": "2026-03-11"}


def test_registration_is_due_within_two_working_days_and_deadline_is_45_days(office):
    case = _open(office)
    assert case["number"] == "2026/000001"
    assert case["legal_due_date"] == "2026-04-16"  # 2 March + 45 calendar days
    registration = _task(office, case["id"], "registration")
    assert registration["role"] == "registrar"
    assert registration["due_at"] == "2026-03-04"  # Mon 2 March + 2 working days
    assert [s["fiscal_code"] for s in case["subjects"]] == ["RSSMRA80A01H501U"]


def test_invalid_declaration_gets_field_messages(office):
    bad = {**DECLARATION, "declarants": [{"fiscal_code": "RSSMRA80A01H501X", "given_name": "", "family_name": "R"}],
           "declaration_date": "31/02/2026"}
    r = _client(office, "registrar").post("/api/v1/cases/", {"process": "residence_change", "data": bad}, format="json")
    assert r.status_code == 400
    fields = r.json()["error"]["fields"]["data"]
    assert "declarants.0.fiscal_code" in fields and "declarants.0.given_name" in fields
    assert fields["declaration_date"] == ["Data non valida: usa il formato AAAA-MM-GG."]


def test_positive_verification_closes_the_case_as_accepted(office):
    case = _open(office)
    _register(office, case["id"])
    detail = _case(office, case["id"])
    assert detail["data"]["anpr_registration_result"]  # the ANPR operation ran through the outbox
    # The declarant is sent the signed notice of start (DOMAIN §1), filed in their dossier.
    notice = Document.objects.get(case_id=case["id"], kind="comunicazione_avvio")
    assert notice.signed and notice.signature_level in ("B-B", "B-T")
    assert detail["data"]["notice_of_start_document"]["document_id"] == notice.pk
    assert DossierEntry.objects.filter(fiscal_code="RSSMRA80A01H501U", document=notice).exists()
    [report] = verify_pdf(storage.get(notice.sha256))
    assert report.intact and report.valid
    police_task = _task(office, case["id"], "police_verification")
    assert police_task["role"] == "police" and police_task["due_at"] == "2026-04-16"
    # the registrar cannot do the police's step
    r = _client(office, "registrar").post(f"/api/v1/tasks/{police_task['id']}/complete/", {"data": POSITIVE}, format="json")
    assert r.status_code == 403
    _complete(office, "police", case["id"], "police_verification", POSITIVE)
    _drain()  # the outcome letter: issued, protocolled, sent
    detail = _case(office, case["id"])
    assert detail["status"] == "closed" and detail["outcome"] == "accepted" and detail["tasks"] == []
    assert detail["outcome_label"] == "Accolta"


def test_police_form_requires_a_reason_when_negative(office):
    case = _open(office)
    _register(office, case["id"])
    r = _complete(office, "police", case["id"], "police_verification",
                  {"outcome": "negative", "visit_date": "2026-03-10"}, expect=400)
    assert "negative_reason" in r.json()["error"]["fields"]["data"]
    r = _complete(office, "police", case["id"], "police_verification", {"outcome": "forse", "visit_date": "2026-03-10"}, expect=400)
    assert "outcome" in r.json()["error"]["fields"]["data"]


def test_silence_assent_when_45_days_pass_without_verification(office):
    case = _open(office)
    _register(office, case["id"])
    clock.advance(dt.timedelta(days=44))
    assert engine.fire_due_timers() == 0
    assert _case(office, case["id"])["status"] == "open"
    clock.advance(dt.timedelta(days=2))
    assert engine.fire_due_timers() == 1
    # The declaration stands; the registrar is told with a work item to acknowledge (issue 10).
    ack = _task(office, case["id"], "silence_assent")
    assert ack["role"] == "registrar" and _case(office, case["id"])["status"] == "open"
    _complete(office, "registrar", case["id"], "silence_assent", {"acknowledged": True})
    _drain()  # the outcome letter: issued, protocolled, sent
    detail = _case(office, case["id"])
    assert detail["status"] == "closed" and detail["outcome"] == "silence_assent"
    assert detail["tasks"] == []
    assert any(h["action"] == "system" for h in detail["history"])


def _negative_until_notice(office):
    case = _open(office)
    _register(office, case["id"])
    _complete(office, "police", case["id"], "police_verification", NEGATIVE)
    _complete(office, "registrar", case["id"], "notice_10bis", NOTICE)
    _drain()
    return case


def _deliver_notice(office, case, delivered_on="2026-03-02"):
    """The office records the day the 10-bis notice reached the declarant (issue 10)."""
    r = _client(office, "registrar").post(
        f"/api/v1/cases/{case['id']}/messages/",
        {"message": "notice_delivered", "payload": {"delivered_on": delivered_on}}, format="json",
    )
    assert r.status_code == 200, r.content


def test_negative_then_reply_accepted(office):
    case = _negative_until_notice(office)
    detail = _case(office, case["id"])
    assert "notice_10bis_sent" in detail["data"]  # App IO answered (sent, or reported not on IO)
    assert detail["tasks"] == []  # waiting for the delivery, then the citizen's written observations
    _deliver_notice(office, case)
    assert _case(office, case["id"])["data"]["observations_due_on"] == "2026-03-12"
    r = _client(office, "registrar").post(
        f"/api/v1/cases/{case['id']}/messages/",
        {"message": "citizen_reply", "payload": {"text": "Abito qui dal 1 marzo", "received_on": "2026-03-15"}},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert _case(office, case["id"])["data"]["citizen_reply"]["text"] == "Abito qui dal 1 marzo"
    _complete(office, "registrar", case["id"], "evaluate_reply", {"reply_accepted": True, "evaluation_notes": "Contratto di locazione"})
    _drain()  # the outcome letter: issued, protocolled, sent
    detail = _case(office, case["id"])
    assert detail["status"] == "closed" and detail["outcome"] == "accepted_after_reply"


def test_negative_then_reply_rejected_restores_previous_position(office):
    case = _negative_until_notice(office)
    _client(office, "registrar").post(
        f"/api/v1/cases/{case['id']}/messages/", {"message": "citizen_reply", "payload": {"text": "no"}}, format="json"
    )
    _complete(office, "registrar", case["id"], "evaluate_reply", {"reply_accepted": False})
    _drain()
    assert _case(office, case["id"])["data"]["anpr_restore_result"]
    _complete(office, "registrar", case["id"], "report_discrepancies",
              {"reported_to_public_security": True, "reported_to_previous_municipality": True})
    _drain()  # the outcome letter: issued, protocolled, sent
    detail = _case(office, case["id"])
    assert detail["status"] == "closed" and detail["outcome"] == "restored"


def test_negative_and_no_reply_within_10_days_restores(office):
    case = _negative_until_notice(office)
    clock.advance(dt.timedelta(days=3))
    assert engine.fire_due_timers() == 0  # the 10 days have not started: no delivery yet
    _deliver_notice(office, case, "2026-03-04")  # delivered two days after sending
    clock.advance(dt.timedelta(days=9))  # 14 March, day 10 from delivery (a Saturday: Monday 16)
    assert engine.fire_due_timers() == 0
    clock.advance(dt.timedelta(days=2))  # Monday 16 March, the last day
    assert engine.fire_due_timers() == 0
    clock.advance(dt.timedelta(days=1))
    assert engine.fire_due_timers() == 1
    _drain()
    _complete(office, "registrar", case["id"], "report_discrepancies",
              {"reported_to_public_security": True, "reported_to_previous_municipality": False})
    assert _case(office, case["id"])["outcome"] == "restored"
    # a late reply finds nobody waiting for it
    r = _client(office, "registrar").post(
        f"/api/v1/cases/{case['id']}/messages/", {"message": "citizen_reply", "payload": {}}, format="json"
    )
    assert r.status_code == 409


def test_the_45_day_timer_survives_a_negative_check_until_the_notice_is_sent(office):
    # Issue 10: before, a negative check dropped the 45-day timer and the case stayed open forever.
    case = _open(office)
    _register(office, case["id"])
    _complete(office, "police", case["id"], "police_verification", NEGATIVE)
    clock.advance(dt.timedelta(days=46))
    assert engine.fire_due_timers() == 1
    assert [t["bpmn_id"] for t in _case(office, case["id"])["tasks"]] == ["silence_assent"]
    _complete(office, "registrar", case["id"], "silence_assent", {"acknowledged": True})
    assert _case(office, case["id"])["outcome"] == "silence_assent"


def test_the_45_day_timer_stops_once_the_notice_is_sent(office):
    case = _negative_until_notice(office)
    clock.advance(dt.timedelta(days=46))
    assert engine.fire_due_timers() == 0
    detail = _case(office, case["id"])
    assert detail["status"] == "open" and detail["outcome"] != "silence_assent"


def test_every_task_exposes_its_json_schema(office):
    case = _open(office)
    task = _task(office, case["id"], "registration")
    body = _client(office, "registrar").get(f"/api/v1/tasks/{task['id']}/").json()
    assert body["form"]["properties"]["origin"]["enum"] == ["same_municipality", "other_municipality", "abroad"]
    assert body["ui_form"]["ui:order"][0] == "origin"
    assert "2 giorni lavorativi" in body["instructions"]
