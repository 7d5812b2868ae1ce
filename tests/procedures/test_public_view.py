"""A citizen sees the public view of their own case (issue 17, finding 5): the attack is simply to
read one's own case, by API and page, after the office worked on it; nothing internal leaks."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import Case, WorkItem
from tests.factories import api_client, declarant, declaration_payload, make_user
from tests.procedures.test_residence_change import (  # noqa: F401 - fixtures
    NEGATIVE,
    NOTICE,
    _client,
    _complete,
    _drain,
    office,
    signer_2026,
    simulators,
)

pytestmark = pytest.mark.django_db

CITIZEN_CF = "RSSMRA80A01H501U"
CO_DECLARANT_CF = "PRVGNN90R10H501Q"
NOTE = "Nota interna: il vicino dice che la casa è vuota, verificare con il comandante"
DECLARATION = declaration_payload(declarants=[
    declarant(CITIZEN_CF),
    declarant(CO_DECLARANT_CF, given_name="Giovanna", family_name="Provolone", birth_date="1990-10-10"),
])
# Keys of raw service results and internal data that must never reach a citizen.
RAW_KEYS = ["anpr_registration_result", "notice_10bis_sent", "notice_of_start_document", "registration",
            "police_verification", "negative_reason", "_completed_by"]


@pytest.fixture
def worked_case(office):  # noqa: F811
    """The citizen's own declaration after the office registered it, the police found nobody, an
    internal note was written and the notice of grounds for refusal went out on App IO and was delivered."""
    for who, (first, last) in (("registrar", ("Gianna", "Scrivani")), ("police", ("Ottavio", "Vigilanti"))):
        office[who].first_name, office[who].last_name = first, last
        office[who].save()
    citizen = make_user(office["tenant"], Role.CITIZEN, fiscal_code=CITIZEN_CF)
    r = _client(office, "registrar").post("/api/v1/cases/", {"process": "residence_change", "data": DECLARATION},
                                          format="json")
    assert r.status_code == 201, r.content
    case_id = r.json()["id"]
    _complete(office, "registrar", case_id, "registration", {"origin": "same_municipality", "documents_checked": True})
    _drain()
    _complete(office, "police", case_id, "police_verification", NEGATIVE)
    _complete(office, "registrar", case_id, "notice_10bis", NOTICE)
    _drain()
    # The office records the delivery of the notice: the 10 days for observations start (issue 10).
    assert _client(office, "registrar").post(
        f"/api/v1/cases/{case_id}/messages/",
        {"message": "notice_delivered", "payload": {"delivered_on": "2026-03-02"}}, format="json").status_code == 200
    assert _client(office, "registrar").post(f"/api/v1/cases/{case_id}/comments/", {"text": NOTE},
                                             format="json").status_code == 201
    case = Case.objects.get(pk=case_id)
    assert "anpr_registration_result" in case.data and "notice_10bis_sent" in case.data  # the raw results exist
    return {"case": case, "citizen": citizen, **office}


def _secrets(env) -> list[str]:
    return [NOTE, "casa è vuota", CO_DECLARANT_CF, "Provolone", "Giovanna",
            env["registrar"].username, env["police"].username, "Scrivani", "Vigilanti", "Gianna", "Ottavio",
            NEGATIVE["negative_reason"], *RAW_KEYS]


def test_the_api_gives_a_citizen_only_the_public_view(worked_case):
    env, case = worked_case, worked_case["case"]
    client = api_client(env["citizen"], env["tenant"])
    r = client.get(f"/api/v1/cases/{case.pk}/")
    assert r.status_code == 200
    body, text = r.json(), r.content.decode()
    for secret in _secrets(env):
        assert secret not in text, secret
    for internal in ("history", "comments", "incidents", "tasks", "data", "subjects", "business_key"):
        assert internal not in body, internal
    assert body["number"] == case.number and body["procedure"] == "Cambio di residenza"
    assert body["status"] == "open" and body["legal_due_date"] == case.legal_due_date.isoformat()
    labels = [m["label"] for m in body["milestones"]]
    assert labels[:3] == ["Dichiarazione ricevuta", "Registrazione della dichiarazione",
                          "Accertamento della dimora abituale"]
    assert body["milestones"][-1] == {"label": "In attesa delle sue osservazioni (10 giorni)", "current": True}
    assert [n["subject"] for n in body["notices"]] == [
        f"Avvio del procedimento di residenza (pratica {case.number})",
        f"Dichiarazione di residenza: motivi ostativi (pratica {case.number})"]
    assert NOTICE["reasons"] in body["notices"][1]["text"]  # the notice addressed to them, in full
    assert body["documents"] and all(d["title"] for d in body["documents"])  # the notice of start in their dossier
    assert body["submitted"]["declarants"] == [DECLARATION["declarants"][0]]  # only their own entry
    assert body["submitted"]["new_address"] == DECLARATION["new_address"]
    # The list neither names the co-declarant.
    listed = client.get("/api/v1/cases/")
    assert [c["number"] for c in listed.json()["results"]] == [case.number]
    assert CO_DECLARANT_CF not in listed.content.decode() and "Provolone" not in listed.content.decode()


def test_a_citizen_cannot_read_or_write_internal_notes_nor_see_staff_tasks(worked_case):
    env, case = worked_case, worked_case["case"]
    client = api_client(env["citizen"], env["tenant"])
    r = client.get(f"/api/v1/cases/{case.pk}/comments/")
    assert r.status_code == 403 and r.json()["error"]["code"] == "internal_notes" and NOTE not in r.content.decode()
    r = client.post(f"/api/v1/cases/{case.pk}/comments/", {"text": "ciao"}, format="json")
    assert r.status_code == 403 and case.comments.count() == 1
    for scope in ("mine", "available"):
        assert client.get("/api/v1/tasks/", {"scope": scope}).json()["results"] == []
    assert client.get("/api/v1/tasks/", {"scope": "all"}).status_code == 403
    staff_task = WorkItem.objects.filter(case=case).first()
    assert client.get(f"/api/v1/tasks/{staff_task.pk}/").status_code == 404
    assert client.get("/api/v1/cases/export/", {"format": "csv"}).status_code == 403


def test_the_case_page_shows_a_citizen_the_public_template(worked_case):
    env, case = worked_case, worked_case["case"]
    page = Client()
    page.force_login(env["citizen"])
    r = page.get(f"/pratiche/{case.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    for secret in [*_secrets(env), "Note interne", "Cronologia", "Compiti aperti", "Compiti svolti"]:
        assert secret not in html, secret
    assert case.number in html and "Cambio di residenza" in html and "A che punto è" in html
    assert "In attesa delle sue osservazioni" in html and "motivi ostativi" in html and CITIZEN_CF in html
    assert page.get(f"/pratiche/{case.pk}/diagramma.bpmn").status_code == 404
    listing = page.get("/pratiche/").content.decode()
    assert case.number in listing and "Provolone" not in listing
    # The office still sees everything on the same page.
    staff = Client()
    staff.force_login(env["registrar"])
    staff_html = staff.get(f"/pratiche/{case.pk}/").content.decode()
    assert NOTE in staff_html and CO_DECLARANT_CF in staff_html
