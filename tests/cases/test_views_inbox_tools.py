"""Inbox tools: a supervisor assigns several tasks at once (each refusal reported on its
row), and saved filters, private or shared with colleagues of the same role."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import SavedFilter, WorkItem
from tests.factories import declaration_payload, make_tenant, make_user, work_item

pytestmark = pytest.mark.django_db

CODES = ["RSSMRA80A01H501U", "PRVGNN90R10H501Q", "RSSMRA80A41E715N"]


@pytest.fixture
def office(make_office):
    office = make_office(colleague=Role.REGISTRAR,
                         cases=[declaration_payload(declarants__0__fiscal_code=cf) for cf in CODES])
    office["items"] = [work_item(case, "registration") for case in office["cases"]]
    return office


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --------------------------------------------------------------------------- bulk assign


def test_supervisor_sees_checkboxes_with_labels_and_only_eligible_people(office):
    page = _client(office["supervisor"]).get("/?tab=all").content.decode()
    item = office["items"][0]
    assert f'<label for="pick-d-{item.pk}"><span class="visually-hidden">Seleziona «{item.name}», pratica {office["cases"][0].number}' in page
    assert 'form="bulk-assign"' in page and "Assegna a…" in page
    options = page.split('id="bulk-user"')[1].split("</select>")[0]
    assert office["colleague"].username in options and office["registrar"].username in options
    assert office["police"].username not in options  # no police task on the page


def test_the_assignee_list_follows_the_ticked_tasks(office):
    client = _client(office["supervisor"])
    ids = "&".join(f"items={i.pk}" for i in office["items"][:2])
    fragment = client.get(f"/compiti/assegnatari/?{ids}", HTTP_HX_REQUEST="true").content.decode()
    assert office["colleague"].username in fragment and office["police"].username not in fragment
    assert "2 compiti selezionati" in fragment
    assert _client(office["registrar"]).get(f"/compiti/assegnatari/?{ids}").status_code == 403


def test_bulk_assign_gives_what_it_can_and_reports_each_refusal(office):
    first, completed, four_eyes = office["items"]
    colleague = office["colleague"]
    WorkItem.objects.filter(pk=completed.pk).update(status="completed")
    WorkItem.objects.filter(pk=four_eyes.pk).update(excluded_username=colleague.username)
    client = _client(office["supervisor"])
    response = client.post("/compiti/assegna/", {
        "user": colleague.pk, "items": [first.pk, completed.pk, four_eyes.pk], "next": "/?tab=all",
    })
    assert response.status_code == 302 and response["Location"] == "/?tab=all"
    page = client.get(response["Location"]).content.decode()
    assert "1 compito assegnato a" in page
    assert f"Non assegnato: {office['cases'][1].number} «{completed.name}» — Il compito è già stato completato." in page
    assert f"Non assegnato: {office['cases'][2].number} «{four_eyes.name}» — Regola dei quattro occhi" in page
    assert [(i.pk, i.assignee_id) for i in WorkItem.objects.filter(pk__in=[i.pk for i in office["items"]]).order_by("pk")] == [
        (first.pk, colleague.pk), (completed.pk, None), (four_eyes.pk, None)]
    events = AuditEvent.objects.filter(tenant=office["tenant"], action="assign")
    assert [(e.object_id, e.after) for e in events] == [(str(first.pk), {"assignee": colleague.username})]


def test_bulk_assign_to_someone_without_the_role_assigns_nothing(office):
    client = _client(office["supervisor"])
    response = client.post("/compiti/assegna/", {"user": office["police"].pk, "items": [i.pk for i in office["items"]]},
                           follow=True)
    page = response.content.decode()
    assert page.count("Non assegnato:") == 3 and "non ha il ruolo «registrar»" in page
    assert not WorkItem.objects.filter(assignee__isnull=False).exists()
    # nothing ticked, nobody chosen, garbage ids, an off-site next: messages, never a 500
    for data in ({"user": office["colleague"].pk}, {"items": [office["items"][0].pk]},
                 {"user": "x", "items": ["y"]}, {"user": office["colleague"].pk, "items": ["1"], "next": "//evil.example"}):
        response = client.post("/compiti/assegna/", data)
        assert response.status_code == 302 and response["Location"].startswith("/"), data
        assert not response["Location"].startswith("//")


def test_bulk_assign_is_for_supervisors_only(office):
    client = _client(office["registrar"])
    assert 'form="bulk-assign"' not in client.get("/?tab=available").content.decode()
    assert "Tutti i compiti aperti" not in client.get("/").content.decode()
    response = client.post("/compiti/assegna/", {"user": office["colleague"].pk, "items": [office["items"][0].pk]})
    assert response.status_code == 403
    assert not WorkItem.objects.filter(assignee__isnull=False).exists()


def test_bulk_assign_never_reaches_another_tenant(office):
    other = make_tenant("Comune di Lucca")
    boss = make_user(other, Role.SUPERVISOR)
    helper = make_user(other, Role.REGISTRAR)
    response = _client(boss).post("/compiti/assegna/", {"user": helper.pk, "items": [office["items"][0].pk]}, follow=True)
    assert "Compito non trovato." in response.content.decode()
    # and a user of another tenant cannot be the assignee
    response = _client(office["supervisor"]).post("/compiti/assegna/", {"user": helper.pk, "items": [office["items"][0].pk]},
                                                  follow=True)
    assert "Scegli un utente di questo ente." in response.content.decode()
    assert not WorkItem.objects.filter(assignee__isnull=False).exists()


# --------------------------------------------------------------------------- saved filters


def test_a_saved_filter_keeps_only_the_inbox_filters_and_links_back(office):
    client = _client(office["registrar"])
    response = client.post("/filtri/", {"name": "  Soggetto  Rossi ", "tab": "available", "subject": CODES[0],
                                        "process": "", "page": "3", "evil": "x"})
    saved = SavedFilter.objects.get()
    assert saved.name == "Soggetto Rossi" and saved.query == f"tab=available&subject={CODES[0]}" and not saved.shared
    assert response["Location"] == f"/?{saved.query}"
    page = client.get(response["Location"]).content.decode()
    assert f'href="/?tab=available&amp;subject={CODES[0]}" aria-current="true">Soggetto Rossi' in page
    created = AuditEvent.objects.get(tenant=office["tenant"], object_type="saved_filter", action="create")
    assert created.object_id == str(saved.pk) and created.actor_username == office["registrar"].username
    # same name twice, an empty name: a message, no 500, nothing saved
    for name in ("Soggetto Rossi", "   "):
        response = client.post("/filtri/", {"name": name, "tab": "mine"}, follow=True)
        assert response.status_code == 200 and "alert-danger" in response.content.decode()
    assert SavedFilter.objects.count() == 1


def test_shared_filters_reach_the_same_role_private_ones_stay_private(office):
    owner, colleague, police = office["registrar"], office["colleague"], office["police"]
    client = _client(owner)
    client.post("/filtri/", {"name": "Solo miei", "tab": "mine"})
    client.post("/filtri/", {"name": "Per la squadra", "tab": "available", "shared": "1"})
    stranger = make_user(make_tenant("Comune di Lucca"), Role.REGISTRAR)

    colleague_page = _client(colleague).get("/").content.decode()
    assert "Per la squadra" in colleague_page and "Solo miei" not in colleague_page
    for outsider in (police, stranger):
        page = _client(outsider).get("/").content.decode()
        assert "Per la squadra" not in page and "Solo miei" not in page
    # a suspended owner shares nothing any more
    Membership.objects.filter(user=owner).update(is_active=False)
    assert "Per la squadra" not in _client(colleague).get("/").content.decode()


def test_only_the_owner_renames_shares_or_deletes(office):
    owner, colleague = office["registrar"], office["colleague"]
    _client(owner).post("/filtri/", {"name": "Condiviso", "tab": "available", "shared": "1"})
    _client(owner).post("/filtri/", {"name": "Privato", "tab": "mine"})
    shared, private = SavedFilter.objects.get(name="Condiviso"), SavedFilter.objects.get(name="Privato")
    other = _client(colleague)
    assert other.post(f"/filtri/{shared.pk}/", {"action": "delete"}).status_code == 403
    assert other.post(f"/filtri/{shared.pk}/", {"action": "rename", "name": "Mio"}).status_code == 403
    assert other.post(f"/filtri/{private.pk}/", {"action": "delete"}).status_code == 404
    assert SavedFilter.objects.count() == 2 and SavedFilter.objects.get(pk=shared.pk).name == "Condiviso"

    mine = _client(owner)
    mine.post(f"/filtri/{private.pk}/", {"action": "rename", "name": "Rinominato"})
    mine.post(f"/filtri/{private.pk}/", {"action": "share"})
    mine.post(f"/filtri/{shared.pk}/", {"action": "delete"})
    assert list(SavedFilter.objects.values_list("name", "shared")) == [("Rinominato", True)]
    assert "Rinominato" in other.get("/filtri/").content.decode()
    actions = list(AuditEvent.objects.filter(object_type="saved_filter").order_by("seq").values_list("action", flat=True))
    assert actions == ["create", "create", "update", "update", "delete"]
    assert mine.post("/filtri/abc/", {"action": "delete"}).status_code == 404
