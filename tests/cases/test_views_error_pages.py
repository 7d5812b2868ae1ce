"""Domain errors on operator pages: a missing or foreign object is the Italian 404 page, a refusal the
Italian 403 page, both in the site layout (common.middleware.DomainErrorPagesMiddleware); htmx gets a
small fragment with the same status; never a 500."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.roles import Role
from cases.models import SavedFilter, WorkItem
from cases.services import case_start, saved_filter_create
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db

DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}

SITE_LAYOUT = 'id="main"'  # base.html's main landmark: the page is in the site's layout


@pytest.fixture
def office():
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648")
    registrar = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=registrar, process_id="residence_change", data=DECLARATION)
    item = WorkItem.objects.get(case=case, bpmn_id="registration")
    return {"tenant": tenant, "registrar": registrar, "case": case, "item": item}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _not_found_page(response) -> str:
    assert response.status_code == 404
    page = response.content.decode()
    assert SITE_LAYOUT in page and 'lang="it"' in page
    assert "Pagina non trovata" in page and "Not Found" not in page
    return page


@pytest.mark.parametrize("url", ["/pratiche/999999/", "/compiti/999999/", "/pratiche/999999/diagramma.bpmn",
                                 "/pratiche/abc/"])
def test_a_missing_case_or_task_is_the_italian_404_page(office, url):
    _not_found_page(_client(office["registrar"]).get(url))


def test_another_tenants_case_and_task_are_404_pages_and_posts_change_nothing(office):
    stranger = _client(make_user(make_tenant("Comune di Lucca"), Role.SUPERVISOR))
    _not_found_page(stranger.get(f"/pratiche/{office['case'].pk}/"))
    _not_found_page(stranger.get(f"/compiti/{office['item'].pk}/"))
    _not_found_page(stranger.post(f"/compiti/{office['item'].pk}/presa-in-carico/", {"action": "claim"}))
    _not_found_page(stranger.post(f"/pratiche/{office['case'].pk}/", {"text": "Nota di un estraneo"}))
    assert WorkItem.objects.get(pk=office["item"].pk).assignee is None
    assert not office["case"].comments.exists()


def test_changing_a_colleagues_shared_filter_is_the_italian_403_page_with_the_reason(office):
    owner = make_user(office["tenant"], Role.REGISTRAR)
    shared = saved_filter_create(tenant=office["tenant"], user=owner, name="Residenze", params={"process": "x"},
                                 shared=True)
    response = _client(office["registrar"]).post(f"/filtri/{shared.pk}/", {"action": "delete"})
    assert response.status_code == 403
    page = response.content.decode()
    assert SITE_LAYOUT in page and "Accesso non consentito" in page
    assert "Solo chi ha creato il filtro può modificarlo o eliminarlo." in page
    assert SavedFilter.objects.filter(pk=shared.pk).exists()
    # A filter of someone the user cannot see at all is not revealed: 404.
    private = saved_filter_create(tenant=office["tenant"], user=owner, name="Mie", params={"process": "x"})
    _not_found_page(_client(office["registrar"]).post(f"/filtri/{private.pk}/", {"action": "delete"}))


def test_a_page_refused_by_role_is_the_italian_403_page(office):
    response = _client(office["registrar"]).get("/squadra/")
    assert response.status_code == 403
    page = response.content.decode()
    assert SITE_LAYOUT in page and "Accesso non consentito" in page and "Pagina riservata ai responsabili." in page


def test_htmx_requests_get_a_fragment_with_the_status_not_a_page(office):
    client = _client(office["registrar"])
    missing = client.get("/compiti/999999/", HTTP_HX_REQUEST="true")
    assert missing.status_code == 404
    assert "<html" not in missing.content.decode() and 'role="alert"' in missing.content.decode()
    assert "non esiste" in missing.content.decode()
    refused = client.get("/compiti/assegnatari/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert "<html" not in refused.content.decode()
    assert "Solo un responsabile può assegnare i compiti." in refused.content.decode()


def test_the_api_keeps_its_json_errors(office):
    from tests.factories import api_client

    response = api_client(office["registrar"], office["tenant"]).get("/api/v1/cases/999999/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
