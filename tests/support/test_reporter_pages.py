"""The reporter's own tickets (/assistenza/segnalazioni/): the list with what each ticket waits for,
and the ticket page where the person who reported answers the support team's request for
information, confirms the resolution or reopens it. Only the reporter sees and answers; a ticket
takes only the answer it is waiting for; a missing text is explained in Italian, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from cases import services as case_services
from cases.models import Case, WorkItem
from tests.factories import make_tenant, make_user, sync_processes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def office():
    sync_processes()
    tenant = make_tenant("Comune di Lucca", istat="046017")
    return {"tenant": tenant, "registrar": make_user(tenant, Role.REGISTRAR),
            "colleague": make_user(tenant, Role.REGISTRAR), "support": make_user(tenant, Role.SUPPORT)}


def _client(user) -> Client:
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 Firefox/128.0")
    client.force_login(user)
    return client


def _report(office) -> Case:
    response = _client(office["registrar"]).post("/assistenza/segnala/", {
        "level": "3", "summary": "Il salvataggio non risponde", "description": "Premo Salva e non succede nulla",
        "page_url": "/"})
    assert response.status_code == 302
    _deliver()  # the ticket reads the tenant's SLA terms (a service call) before the support team's task
    return Case.objects.get(tenant=office["tenant"], process_id="malfunction_ticket")


def _deliver() -> None:
    from engine import services as engine

    for _round in range(10):
        if not engine.outbox_deliver_due():
            return


def _support_handles(office, case: Case, data: dict) -> None:
    item = WorkItem.objects.get(case=case, bpmn_id="handle", status="open")
    case_services.work_item_claim(work_item_id=item.pk, tenant=office["tenant"], user=office["support"])
    case_services.work_item_complete(work_item_id=item.pk, tenant=office["tenant"], user=office["support"], data=data)


def _open_tasks(case: Case) -> list[str]:
    return sorted(WorkItem.objects.filter(case=case, status="open").values_list("bpmn_id", flat=True))


def test_the_reporter_answers_reopens_and_confirms_from_the_ticket_page(office):
    case = _report(office)
    reporter = _client(office["registrar"])
    url = f"/assistenza/segnalazioni/{case.pk}/"

    listing = reporter.get("/assistenza/segnalazioni/").content.decode()
    assert case.number in listing and "In lavorazione" in listing
    page = reporter.get(url).content.decode()
    assert "Il salvataggio non risponde" in page and "Invia le informazioni" not in page
    assert "Conferma la risoluzione" not in page
    # An answer the ticket is not waiting for is refused with a reason, and nothing changes.
    response = reporter.post(url, {"message": "reporter_confirm", "note": ""})
    assert response.status_code == 400 and "non attende più questa risposta" in response.content.decode()
    assert _open_tasks(case) == ["handle"]

    _support_handles(office, case, {"action": "request_info", "info_request": "Quale modulo e con quale browser?"})
    assert "attende le tue informazioni" in reporter.get("/assistenza/segnalazioni/").content.decode()
    page = reporter.get(url).content.decode()
    assert "Quale modulo e con quale browser?" in page and "Invia le informazioni" in page
    # The answer needs a text.
    response = reporter.post(url, {"message": "reporter_info", "note": "  "})
    assert response.status_code == 400 and "Scrivi le informazioni richieste." in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    response = reporter.post(url, {"message": "reporter_info", "note": "Il modulo di residenza, con Firefox"})
    assert response.status_code == 302 and response["Location"] == url
    case.refresh_from_db()
    assert case.data["reporter_info"] == {"answer": "Il modulo di residenza, con Firefox"}
    assert _open_tasks(case) == ["handle"]

    _support_handles(office, case, {"action": "resolve", "resolution": "Corretto il salvataggio delle bozze"})
    page = reporter.get(url).content.decode()
    assert "Corretto il salvataggio delle bozze" in page
    assert "Conferma la risoluzione" in page and "Riapri la segnalazione" in page
    # Reopening needs the reason.
    response = reporter.post(url, {"message": "reporter_reopen", "note": ""})
    assert response.status_code == 400 and "Spiega perché il problema non è risolto." in response.content.decode()
    response = reporter.post(url, {"message": "reporter_reopen", "note": "Si ripresenta con i file allegati"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.data["reopen_count"] == 1 and case.data["reporter_reopen"] == {"note": "Si ripresenta con i file allegati"}
    assert _open_tasks(case) == ["handle"]

    _support_handles(office, case, {"action": "resolve", "resolution": "Corretto anche il caricamento"})
    response = reporter.post(url, {"message": "reporter_confirm", "note": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "closed" and case.outcome in ("met", "missed")
    page = reporter.get(url).content.decode()
    assert "Chiusa" in page and "Conferma la risoluzione" not in page and "Corretto anche il caricamento" in page


def test_only_the_reporter_sees_and_answers_their_ticket(office):
    case = _report(office)
    _support_handles(office, case, {"action": "request_info", "info_request": "Quale browser?"})
    url = f"/assistenza/segnalazioni/{case.pk}/"
    for user in (office["colleague"], office["support"]):
        client = _client(user)
        assert case.number not in client.get("/assistenza/segnalazioni/").content.decode()
        assert client.get(url).status_code == 404
        assert client.post(url, {"message": "reporter_info", "note": "Chrome"}).status_code == 404
    # Another tenant's reporter with the same id, a non-numeric id: not found.
    other = make_tenant("Comune di Capannori", istat="046007")
    outsider = make_user(other, Role.REGISTRAR)
    assert _client(outsider).get(url).status_code in (403, 404)
    assert _client(office["registrar"]).get("/assistenza/segnalazioni/abc/").status_code == 404
    case.refresh_from_db()
    assert "reporter_info" not in case.data


def test_an_unknown_answer_and_an_overlong_text_are_refused(office):
    case = _report(office)
    _support_handles(office, case, {"action": "request_info", "info_request": "Quale browser?"})
    reporter = _client(office["registrar"])
    url = f"/assistenza/segnalazioni/{case.pk}/"
    assert reporter.post(url, {"message": "case_cancel", "note": "x"}).status_code == 400
    response = reporter.post(url, {"message": "reporter_info", "note": "x" * 5001})
    assert response.status_code == 400 and "supera i 5000 caratteri" in response.content.decode()
    case.refresh_from_db()
    assert "reporter_info" not in case.data and _open_tasks(case) == []
