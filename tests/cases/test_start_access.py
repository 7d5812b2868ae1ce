"""Who may open a case and deliver a message is declared per procedure (issue 17, findings 4 and 8):
the attacks of a citizen who reads someone else's ANPR request, or says a fee was paid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from accounts.roles import Role
from cases.models import Case, WorkItem
from cases.services import case_start
from engine.bundles import read_bundle, validate_bundle
from engine.models import OutboxMessage
from tests.factories import api_client, declaration_payload

pytestmark = pytest.mark.django_db
PROCESSES = Path(__file__).resolve().parents[2] / "processes"
CITIZEN_CF = "RSSMRA80A01H501U"
VICTIM_REQUEST_CODE = "REQ-000123"
DECLARATION = declaration_payload(declarants__0__fiscal_code=CITIZEN_CF, new_address__house_number="1")


@pytest.fixture
def office(make_office):
    return make_office(citizen=Role.CITIZEN, fiscal_codes={"citizen": CITIZEN_CF})


def test_a_citizen_cannot_open_an_anpr_request_with_a_victims_request_code(office):
    client = api_client(office["citizen"], office["tenant"])
    # The attacker even names themselves as declarant, to pass the "only for yourself" rule.
    attack = {"request_code": VICTIM_REQUEST_CODE, "request_type": "2",
              "declarants": [{"fiscal_code": CITIZEN_CF, "given_name": "", "family_name": ""}]}
    r = client.post("/api/v1/cases/", {"process": "anpr_citizen_request", "data": attack}, format="json")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "start_not_allowed"
    assert "solo dal sistema" in r.json()["error"]["message"]
    assert not Case.objects.exists()
    assert not OutboxMessage.objects.exists()  # no P002 call was queued: ANPR's answer cannot reach them
    assert VICTIM_REQUEST_CODE not in r.content.decode()


def test_no_person_opens_a_platform_procedure_not_even_a_registrar(office):
    data = {"request_code": VICTIM_REQUEST_CODE, "request_type": "2", "declarants": []}
    r = api_client(office["registrar"], office["tenant"]).post(
        "/api/v1/cases/", {"process": "anpr_citizen_request", "data": data}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "start_not_allowed"
    page = Client()
    page.force_login(office["registrar"])
    assert "Richiesta dal portale ANPR" not in page.get("/pratiche/nuova/").content.decode()
    assert page.get("/pratiche/nuova/anpr_citizen_request/").status_code == 404
    assert page.post("/pratiche/nuova/anpr_citizen_request/", {"request_code": "X"}).status_code == 404
    assert not Case.objects.exists() and not OutboxMessage.objects.exists()


def test_starters_are_enforced_and_a_citizen_files_on_the_portal_only_for_themselves(office):
    police = api_client(office["police"], office["tenant"])
    r = police.post("/api/v1/cases/", {"process": "residence_change", "data": DECLARATION}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "start_not_allowed"
    citizen = api_client(office["citizen"], office["tenant"])
    other = {**DECLARATION, "declarants": [{"fiscal_code": "PRVGNN90R10H501Q", "given_name": "G", "family_name": "P"}]}
    assert citizen.post("/api/v1/cases/", {"process": "residence_change", "data": other},
                        format="json").status_code == 403
    assert not Case.objects.exists()
    assert citizen.post("/api/v1/cases/", {"process": "residence_change", "data": DECLARATION},
                        format="json").status_code == 201
    page = Client()
    page.force_login(office["citizen"])
    assert page.get("/pratiche/nuova/").status_code == 403  # the counter page is for staff


def test_a_citizen_cannot_deliver_a_payment_confirmation(office):
    case = case_start(tenant=office["tenant"], user=office["citizen"], process_id="residence_change",
                      data=DECLARATION)
    data_before = dict(case.data)
    items_before = list(WorkItem.objects.filter(case=case).values_list("bpmn_id", "status"))
    client = api_client(office["citizen"], office["tenant"])
    r = client.post(f"/api/v1/cases/{case.pk}/messages/",
                    {"message": "pagamento_ricevuto", "payload": {"iuv": "1", "amount": 16}}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "message_not_allowed"
    case.refresh_from_db()
    assert case.data == data_before and "pagamento_ricevuto" not in case.data
    assert list(WorkItem.objects.filter(case=case).values_list("bpmn_id", "status")) == items_before
    # Nor may the office: only the system (pagoPA) delivers it.
    r = api_client(office["registrar"], office["tenant"]).post(
        f"/api/v1/cases/{case.pk}/messages/", {"message": "pagamento_ricevuto"}, format="json")
    assert r.status_code == 403
    # The declared message passes the check (nobody waits for it yet: 409, not 403).
    r = client.post(f"/api/v1/cases/{case.pk}/messages/", {"message": "citizen_reply", "payload": {}}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_waiting_case"


@pytest.fixture
def bundle(tmp_path):
    shutil.copytree(PROCESSES / "residence_change", tmp_path / "residence_change")
    return tmp_path / "residence_change"


def _rewrite(folder: Path, **changes) -> list[str]:
    path = folder / "manifest.yaml"
    manifest = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    path.write_text(yaml.safe_dump(manifest, allow_unicode=True))
    return validate_bundle(read_bundle(folder))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"starters": None}, "manca 'starters'"),
        ({"channel": None}, "manca 'channel'"),
        ({"start_form": None}, "manca 'start_form'"),
        ({"starters": ["registrar", "janitor", "citizen"]}, "ruolo sconosciuto o non ammesso 'janitor'"),
        ({"starters": ["viewer", "citizen"]}, "ruolo sconosciuto o non ammesso 'viewer'"),
        ({"channel": ["counter", "fax", "portal"]}, "canale sconosciuto 'fax'"),
        ({"channel": "platform"}, "'starters' deve essere []"),
        ({"channel": "counter"}, "'citizen' in 'starters' richiede il canale 'portal'"),
        ({"subjects_path": None}, "il canale 'portal' richiede 'subjects_path'"),
        ({"messages": {"pagamento_ricevuto": ["citizen"]}}, "il messaggio 'pagamento_ricevuto' in 'messages' non esiste"),
        ({"messages": {"citizen_reply": ["root"]}}, "ruolo sconosciuto o non ammesso 'root' per il messaggio"),
        ({"messages": {"citizen_reply": {"roles": ["citizen"], "by": "anybody"}}},
         "'by' del messaggio 'citizen_reply' deve essere uno di: anyone, starter"),
        ({"messages": {"citizen_reply": {"roles": ["citizen"], "who": "starter"}}},
         "chiavi sconosciute ['who'] per il messaggio 'citizen_reply'"),
        ({"public_milestones": {"nowhere": "Mai"}}, "l'elemento 'nowhere' in 'public_milestones' non esiste"),
    ],
)
def test_the_validator_refuses_a_manifest_without_access_rules_naming_the_file(bundle, changes, expected):
    problems = _rewrite(bundle, **changes)
    assert any(expected in p and p.startswith("residence_change/manifest.yaml:") for p in problems), problems


def test_the_shipped_procedures_declare_their_access():
    for process in ("residence_change", "anpr_citizen_request"):
        assert validate_bundle(read_bundle(PROCESSES / process)) == []


def test_sync_processes_and_the_system_check_refuse_a_manifest_without_starters(bundle, settings, capsys):
    from django.core.management.base import CommandError

    from engine.checks import check_process_bundles
    from engine.models import ProcessDefinition

    _rewrite(bundle, starters=None)
    with pytest.raises(CommandError):
        call_command("sync_processes", dir=str(bundle.parent), verbosity=0)
    assert "residence_change/manifest.yaml: manca 'starters'" in "".join(capsys.readouterr())
    assert not ProcessDefinition.objects.filter(process_id="residence_change").exists()
    settings.PROCEDO_PROCESSES_DIR = bundle.parent
    errors = check_process_bundles()
    assert errors and "manca 'starters'" in errors[0].msg
