"""Operator pages: inbox, task form with drafts and errors, case page, search; viewers see no actions."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import WorkItem
from forms.models import Draft
from tests.factories import declaration_payload, make_tenant, make_user, work_item

pytestmark = pytest.mark.django_db

@pytest.fixture
def office(make_office):
    office = make_office(cases=[declaration_payload()])
    office["item"] = work_item(office["case"], "registration")
    return office


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_the_login_page():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accedi/")
    page = Client().get("/accedi/")
    assert page.status_code == 200 and "Accedi a Procedo" in page.content.decode()


def test_login_with_demo_style_credentials(office):
    client = Client()
    response = client.post("/accedi/", {"username": office["registrar"].username, "password": "pw-test-123"})
    assert response.status_code == 302
    wrong = Client().post("/accedi/", {"username": office["registrar"].username, "password": "x"})
    assert "non corretti" in wrong.content.decode()


def test_inbox_shows_tabs_with_counts_and_the_task(office):
    page = _client(office["registrar"]).get("/?tab=available").content.decode()
    assert "Da prendere in carico" in page and "Comune di Capannori" in page
    assert office["case"].number in page and "Registrazione della dichiarazione" in page
    assert "Prendi in carico" in page


def test_claim_from_the_inbox_and_conflict_is_a_message_not_an_error(office):
    client = _client(office["registrar"])
    response = client.post(f"/compiti/{office['item'].pk}/presa-in-carico/", {"action": "claim"}, follow=True)
    assert "Compito preso in carico." in response.content.decode()
    other = make_user(office["tenant"], Role.REGISTRAR)
    response = _client(other).post(f"/compiti/{office['item'].pk}/presa-in-carico/", {"action": "claim"}, follow=True)
    assert response.status_code == 200 and "già stato preso in carico" in response.content.decode()


def test_task_form_errors_are_shown_in_italian_and_nothing_is_lost(office):
    client = _client(office["registrar"])
    url = f"/compiti/{office['item'].pk}/"
    page = client.get(url).content.decode()
    assert 'name="origin"' in page and "2 giorni lavorativi" in page
    response = client.post(url, {"action": "complete", "notes": "scritto a mano", "documents_checked__present": "1"})
    body = response.content.decode()
    assert "Il modulo contiene errori" in body and "Campo obbligatorio." in body
    assert "scritto a mano" in body  # what was typed is still there


def test_draft_is_saved_and_restored(office):
    client = _client(office["registrar"])
    url = f"/compiti/{office['item'].pk}/"
    client.post(url, {"action": "draft", "notes": "bozza di prova", "origin": "abroad"})
    assert Draft.objects.get(work_item_id=office["item"].pk).data == {"notes": "bozza di prova", "origin": "abroad"}
    page = client.get(url).content.decode()
    assert "Bozza ripristinata" in page and "bozza di prova" in page


def test_completing_the_task_through_the_page(office):
    client = _client(office["registrar"])
    response = client.post(
        f"/compiti/{office['item'].pk}/",
        {"action": "complete", "origin": "same_municipality", "documents_checked": "true", "documents_checked__present": "1"},
        follow=True,
    )
    assert "completato" in response.content.decode()
    assert WorkItem.objects.get(pk=office["item"].pk).status == "completed"


def test_viewer_sees_no_action_buttons_and_the_server_refuses(office):
    client = _client(office["viewer"])
    inbox = client.get("/?tab=available").content.decode()
    assert "Prendi in carico" not in inbox
    task = client.get(f"/compiti/{office['item'].pk}/").content.decode()
    assert "Completa" not in task and "Salva bozza" not in task
    assert client.post(f"/compiti/{office['item'].pk}/", {"action": "complete"}).status_code == 403
    response = client.post(f"/compiti/{office['item'].pk}/presa-in-carico/", {"action": "claim"}, follow=True)
    assert WorkItem.objects.get(pk=office["item"].pk).assignee_id is None
    assert response.status_code == 200


def test_case_page_shows_readable_data_history_and_comments(office):
    client = _client(office["registrar"])
    url = f"/pratiche/{office['case'].pk}/"
    client.post(url, {"text": "Chiamare il dichiarante"})
    page = client.get(url).content.decode()
    assert "Dichiaranti" in page and "Nuovo indirizzo" in page  # form titles, not raw keys
    assert "Via / piazza: Via Roma" in page and "house_number" not in page
    assert "Chiamare il dichiarante" in page and "Aperta la pratica" in page


def test_case_search_and_bad_input_never_500(office):
    client = _client(office["registrar"])
    assert office["case"].number in client.get("/pratiche/?fiscal_code=RSSMRA80A01H501U").content.decode()
    for url in ("/pratiche/?due_before=ieri", "/pratiche/?status=boh&page=x", "/?tab=zzz&page=-1",
                "/compiti/abc/", "/pratiche/999999/", "/compiti/999999/"):
        assert client.get(url).status_code in (200, 404), url


def test_another_tenants_pages_are_404(office):
    other = make_tenant("Comune di Lucca")
    stranger = make_user(other, Role.SUPERVISOR)
    client = _client(stranger)
    assert client.get(f"/pratiche/{office['case'].pk}/").status_code == 404
    assert client.get(f"/compiti/{office['item'].pk}/").status_code == 404
    assert client.post(f"/compiti/{office['item'].pk}/presa-in-carico/", {"action": "claim"}).status_code == 404


def test_supervisor_reassigns_from_the_task_page(office):
    supervisor = make_user(office["tenant"], Role.SUPERVISOR)
    colleague = make_user(office["tenant"], Role.REGISTRAR)
    client = _client(supervisor)
    page = client.get(f"/compiti/{office['item'].pk}/").content.decode()
    assert "Assegna a" in page and colleague.username in page
    response = client.post(f"/compiti/{office['item'].pk}/assegna/", {"user": colleague.pk}, follow=True)
    assert "Compito assegnato" in response.content.decode()
    assert WorkItem.objects.get(pk=office["item"].pk).assignee == colleague
    # a registrar gets no assignment form and the server refuses anyway
    assert "Assegna a" not in _client(office["registrar"]).get(f"/compiti/{office['item'].pk}/").content.decode()
    _client(office["registrar"]).post(f"/compiti/{office['item'].pk}/assegna/", {"user": office["registrar"].pk})
    assert WorkItem.objects.get(pk=office["item"].pk).assignee == colleague


def test_pages_carry_the_session_timeout_warning_and_keepalive_renews(office):
    client = _client(office["registrar"])
    page = client.get("/").content.decode()
    # What is left of the 30-minute idle timeout: a second may pass between the login and the page.
    assert 1790 <= int(page.split('data-timeout="')[1].split('"')[0]) <= 1800 and "La sessione sta per scadere" in page
    assert client.get("/sessione/").status_code == 204
    assert Client().get("/sessione/").status_code == 302  # anonymous: to the login page


def test_the_idle_session_is_renewed_by_activity_at_most_once_a_minute(office):
    """A page view renews the session's expiry only when its last renewal is a minute old: the other
    page views write nothing to the session table; the keepalive always renews."""
    import time

    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.middleware import RENEWED_KEY

    client = _client(office["registrar"])
    client.get("/")  # the first request after sign-in renews
    key = client.cookies["sessionid"].value
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/").content.decode()
    assert not [q for q in ctx.captured_queries if "django_session" in q["sql"] and not q["sql"].startswith("SELECT")]
    timeout = int(page.split('data-timeout="')[1].split('"')[0])
    assert 1740 <= timeout <= 1800  # what is left of the idle timeout, for the warning in the page

    session = client.session
    session[RENEWED_KEY] = int(time.time()) - 600  # last renewed ten minutes ago
    session.save()
    Session.objects.filter(session_key=key).update(expire_date=Session.objects.get(session_key=key).expire_date
                                                     - __import__("datetime").timedelta(minutes=10))
    before = Session.objects.get(session_key=key).expire_date
    page = client.get("/").content.decode()
    assert Session.objects.get(session_key=key).expire_date > before  # renewed, and the cookie with it
    assert int(page.split('data-timeout="')[1].split('"')[0]) >= 1790

    session = client.session
    session[RENEWED_KEY] = int(time.time()) - 30
    session.save()
    assert client.get("/sessione/").status_code == 204
    assert abs(client.session[RENEWED_KEY] - time.time()) < 5  # the keepalive renews whatever the minute


def test_team_view_for_supervisors_only(office):
    import datetime as dt

    from common import clock

    supervisor = make_user(office["tenant"], Role.SUPERVISOR)
    WorkItem.objects.filter(pk=office["item"].pk).update(assignee=office["registrar"], due_at=dt.date(2026, 1, 1))
    clock.freeze(dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC))
    page = _client(supervisor).get("/squadra/").content.decode()
    assert office["registrar"].username in page and "Compiti scaduti" in page and office["case"].number in page
    assert _client(office["registrar"]).get("/squadra/").status_code == 403


def test_english_when_the_user_picks_it_italian_otherwise(office):
    client = _client(office["registrar"])
    italian = client.get("/?tab=available", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "Da prendere in carico" in italian  # the browser's language is not followed
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = client.get("/?tab=available").content.decode()
    assert "Available to claim" in english and "Claim" in english


def test_claiming_never_redirects_to_another_site(office):
    client = _client(office["registrar"])
    response = client.post(f"/compiti/{office['item'].pk}/presa-in-carico/",
                           {"action": "claim", "next": "https://evil.example/phish"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]


def test_the_four_eyes_rule_is_explained_to_the_person_it_stops():
    from cases.models import Case
    from engine import services as engine
    from tests.engine_models import publish_model

    tenant = make_tenant("Comune di Prova Quattrocchi")
    alice = make_user(tenant, Role.REGISTRAR, Role.SUPERVISOR, username="alice.4e")
    bob = make_user(tenant, Role.SUPERVISOR, username="bob.4e")
    version = publish_model("lanes_script")
    case = Case.objects.create(tenant=tenant, number="2026/000901", process_id="lanes_script", process_version=version,
                               title="Prova", opened_at="2026-11-23T09:00:00Z", updated_at="2026-11-23T09:00:00Z")
    started = engine.instance_start(tenant=tenant, version=version, data={}, case_id=case.pk, case_number=case.number)
    Case.objects.filter(pk=case.pk).update(instance=started.instance)
    enter = WorkItem.objects.get(case=case, bpmn_id="enter")
    from cases.services import work_item_complete

    work_item_complete(work_item_id=enter.pk, tenant=tenant, user=alice, data={"a": 1, "b": 2})
    approve = WorkItem.objects.get(case=case, bpmn_id="approve")
    page = _client(alice).get(f"/compiti/{approve.pk}/").content.decode()
    assert "Regola dei quattro occhi: hai svolto il passo precedente" in page and 'value="complete"' not in page
    assert _client(alice).post(f"/compiti/{approve.pk}/", {"action": "complete"}).status_code == 403
    assert 'value="complete"' in _client(bob).get(f"/compiti/{approve.pk}/").content.decode()
