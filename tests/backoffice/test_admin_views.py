"""Tenant administration pages: who gets in, users and their roles in one tenant only,
one-time passwords, and the incidents page with its retry."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.test import Client

from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditEvent
from cases.selectors import incident_explain
from cases.services import case_start
from common import clock
from common.operations import _REGISTRY, Operation
from connectors.base.errors import PlatformRefused
from engine import services as engine
from engine.models import Incident
from tests.engine_models import publish_bundle
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = pytest.mark.django_db

VALID_CF = "RSSMRA80A01H501U"


_client = second_factor_client


def _events(tenant, **filters):
    return list(AuditEvent.objects.filter(tenant=tenant, **filters).order_by("seq"))


# --------------------------------------------------------------------------- who gets in


ADMIN_PAGES = ["/amministrazione/utenti/", "/amministrazione/utenti/nuovo/", "/amministrazione/incidenti/"]


@pytest.mark.parametrize("who", ["viewer", "registrar"])
def test_viewers_and_registrars_are_refused_everywhere(office, who):
    client = _client(office[who])
    for url in ADMIN_PAGES + [f"/amministrazione/utenti/{office['registrar'].pk}/"]:
        assert client.get(url).status_code == 403, url
    response = client.post("/amministrazione/utenti/nuovo/", {
        "username": "intruso", "first_name": "I", "last_name": "N", "fiscal_code": VALID_CF, "roles": ["supervisor"],
    })
    assert response.status_code == 403 and not User.objects.filter(username="intruso").exists()
    client.post(f"/amministrazione/utenti/{office[who].pk}/ruoli/", {"roles": ["process_admin"]})
    assert set(Membership.objects.filter(user=office[who]).values_list("role", flat=True)) == {who}
    assert "Amministrazione" not in client.get("/").content.decode()


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_process_admins_get_in_from_the_header(office, who):
    client = _client(office[who])
    assert 'href="/amministrazione/utenti/"' in client.get("/").content.decode()
    for url in ADMIN_PAGES:
        # A process admin manages procedures, not people: no "new user" page (issue 17, finding 6).
        expected = 403 if (who, url) == ("admin", "/amministrazione/utenti/nuovo/") else 200
        assert client.get(url).status_code == expected, url
    page = client.get("/amministrazione/utenti/").content.decode()
    assert office["registrar"].username in page and office["viewer"].username in page


def test_the_user_list_shows_staff_and_finds_citizens_only_when_asked(office):
    citizen = make_user(office["tenant"], Role.CITIZEN, fiscal_code=VALID_CF)
    client = _client(office["supervisor"])
    assert citizen.username not in client.get("/amministrazione/utenti/").content.decode()
    assert citizen.username in client.get("/amministrazione/utenti/?role=citizen").content.decode()
    found = client.get(f"/amministrazione/utenti/?q={office['registrar'].username}").content.decode()
    assert office["registrar"].username in found and office["viewer"].username not in found
    assert client.get("/amministrazione/utenti/?role=nonsense&page=zz").status_code == 200


def test_another_tenants_users_and_incidents_are_404(office):
    other = make_tenant("Comune di Lucca")
    stranger = make_user(other, Role.REGISTRAR)
    publish_bundle("broken_script")
    broken = case_start(tenant=other, user=stranger, process_id="broken_script", data={})
    incident = Incident.objects.get(instance=broken.instance)
    client = _client(office["supervisor"])
    assert stranger.username not in client.get("/amministrazione/utenti/").content.decode()
    assert "Nessun utente trovato." in client.get(f"/amministrazione/utenti/?q={stranger.username}").content.decode()
    base = f"/amministrazione/utenti/{stranger.pk}/"
    assert client.get(base).status_code == 404
    assert client.post(base + "ruoli/", {"roles": ["supervisor"]}).status_code == 404
    assert client.post(base + "accesso/", {"active": "0"}).status_code == 404
    assert client.post(base + "password/").status_code == 404
    assert client.post(f"/amministrazione/incidenti/{incident.pk}/riprova/").status_code == 404
    assert broken.number not in client.get("/amministrazione/incidenti/").content.decode()
    assert list(Membership.objects.filter(user=stranger).values_list("role", "is_active")) == [("registrar", True)]
    incident.refresh_from_db()
    assert incident.status == "open"
    for bad in ("abc", "999999"):
        assert client.get(f"/amministrazione/utenti/{bad}/").status_code == 404


def test_refusals_and_missing_objects_are_the_italian_error_pages_in_the_site_layout(office):
    refused = _client(office["registrar"]).get("/amministrazione/utenti/")
    assert refused.status_code == 403
    page = refused.content.decode()
    assert 'id="main"' in page and "Accesso non consentito" in page
    assert "Pagina riservata ai responsabili e agli amministratori dell&#x27;ente." in page
    client = _client(office["supervisor"])
    # a service's NotFound (the user is in no membership of this tenant) becomes the 404 page
    missing = client.post("/amministrazione/utenti/999999/password/")
    assert missing.status_code == 404
    assert 'id="main"' in missing.content.decode() and "Pagina non trovata" in missing.content.decode()
    # an htmx retry of an incident that is not there: a fragment, not a page inside the page
    fragment = client.post("/amministrazione/incidenti/999999/riprova/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 404
    assert "<html" not in fragment.content.decode() and 'role="alert"' in fragment.content.decode()


# --------------------------------------------------------------------------- creating users


def test_creating_a_user_checks_the_fiscal_code_and_shows_the_password_once(office):
    client = _client(office["supervisor"])  # the head of office manages staff (a process admin does not)
    form = {"username": "mario.rossi", "first_name": "Mario", "last_name": "Rossi", "email": "m@example.it",
            "fiscal_code": "RSSMRA80A01H501X", "roles": ["registrar", "police"]}
    page = client.post("/amministrazione/utenti/nuovo/", form).content.decode()
    assert "Codice fiscale non valido (controlla il carattere di controllo)." in page
    assert 'aria-describedby="id_fiscal_code_err' in page and 'value="mario.rossi"' in page  # nothing typed is lost
    assert not User.objects.filter(username="mario.rossi").exists()

    response = client.post("/amministrazione/utenti/nuovo/", {**form, "fiscal_code": VALID_CF.lower()})
    user = User.objects.get(username="mario.rossi")
    assert response.status_code == 302 and response["Location"] == f"/amministrazione/utenti/{user.pk}/"
    assert user.fiscal_code == VALID_CF and user.must_change_password
    assert set(Membership.objects.filter(user=user, tenant=office["tenant"]).values_list("role", flat=True)) == {
        "registrar", "police"}
    first = client.get(response["Location"]).content.decode()
    assert "Password provvisoria" in first
    password = first.split('id="one-time-password">')[1].split("<")[0]
    assert len(password) == 19 and user.check_password(password)
    assert "Password provvisoria" not in client.get(response["Location"]).content.decode()  # shown once
    created = _events(office["tenant"], object_type="user", action="create")
    assert [(e.object_id, e.actor_username) for e in created] == [(str(user.pk), office["supervisor"].username)]
    assert created[0].after["roles"] == ["police", "registrar"] and password not in str(created[0].after)

    # the new user must choose a password before anything else
    newcomer = Client()
    assert newcomer.post("/accedi/", {"username": "mario.rossi", "password": password}).status_code == 302
    assert newcomer.get("/")["Location"] == "/password/"
    newcomer.post("/password/", {"old_password": password, "new_password1": "una-frase-lunga-2026",
                                 "new_password2": "una-frase-lunga-2026"})
    user.refresh_from_db()
    assert not user.must_change_password and user.check_password("una-frase-lunga-2026")
    assert newcomer.get("/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"username": ""}, "username", "Campo obbligatorio."),
        ({"username": "con spazi"}, "username", "Usa solo lettere"),
        ({"email": "non-una-mail"}, "email", "Indirizzo email non valido."),
        ({"roles": []}, "roles", "Scegli almeno un ruolo"),
        ({"roles": ["citizen"]}, "roles", "Ruolo non valido."),
        ({"roles": ["root"]}, "roles", "Ruolo non valido."),
    ],
)
def test_bad_input_is_explained_next_to_the_field(office, change, field, message):
    form = {"username": "nuovo", "first_name": "N", "last_name": "U", "fiscal_code": VALID_CF, "roles": ["viewer"],
            **change}
    response = _client(office["supervisor"]).post("/amministrazione/utenti/nuovo/", form)
    page = response.content.decode()
    assert response.status_code == 200 and f'id="id_{field}_err"' in page and message in page
    assert not User.objects.filter(username="nuovo").exists()


def test_a_taken_username_or_a_fiscal_code_already_in_the_tenant_is_refused(office):
    User.objects.filter(pk=office["registrar"].pk).update(fiscal_code=VALID_CF)
    client = _client(office["supervisor"])
    page = client.post("/amministrazione/utenti/nuovo/", {
        "username": office["viewer"].username.upper(), "first_name": "A", "last_name": "B",
        "fiscal_code": VALID_CF, "roles": ["viewer"],
    }).content.decode()
    assert "Nome utente già in uso" in page and "già un utente con questo codice fiscale" in page


# --------------------------------------------------------------------------- roles and access


def test_roles_of_a_membership_are_replaced_and_audited(office):
    client = _client(office["supervisor"])
    target = office["registrar"]
    client.post(f"/amministrazione/utenti/{target.pk}/ruoli/", {"roles": ["police", "civil_registrar"]})
    assert set(Membership.objects.filter(user=target).values_list("role", flat=True)) == {"police", "civil_registrar"}
    event = _events(office["tenant"], object_type="user", object_id=str(target.pk), action="update")[-1]
    assert event.before == {"roles": ["registrar"]} and event.after == {"roles": ["civil_registrar", "police"]}
    assert event.actor_username == office["supervisor"].username
    page = client.get(f"/amministrazione/utenti/{target.pk}/").content.decode()
    assert 'id="role-police" type="checkbox" name="roles" value="police" checked' in page


def test_an_admin_cannot_remove_their_own_admin_role_nor_suspend_themselves(office):
    me = office["supervisor"]
    client = _client(me)
    response = client.post(f"/amministrazione/utenti/{me.pk}/ruoli/", {"roles": ["registrar"]}, follow=True)
    assert "Non puoi togliere a te stesso il ruolo di amministrazione" in response.content.decode()
    assert set(Membership.objects.filter(user=me).values_list("role", flat=True)) == {"supervisor"}
    response = client.post(f"/amministrazione/utenti/{me.pk}/accesso/", {"active": "0"}, follow=True)
    assert "Non puoi disattivare te stesso" in response.content.decode()
    assert Membership.objects.get(user=me).is_active
    # nor add a role to themselves, even keeping the admin one (issue 17, finding 6)
    response = client.post(f"/amministrazione/utenti/{me.pk}/ruoli/", {"roles": ["supervisor", "registrar"]},
                           follow=True)
    assert "Non puoi aggiungere ruoli a te stesso" in response.content.decode()
    assert set(Membership.objects.filter(user=me).values_list("role", flat=True)) == {"supervisor"}
    assert not _events(office["tenant"], object_type="user", object_id=str(me.pk), action="update")


def test_a_suspended_membership_grants_nothing_until_restored(office):
    target = office["registrar"]
    admin = _client(office["supervisor"])
    admin.post(f"/amministrazione/utenti/{target.pk}/accesso/", {"active": "0"})
    assert list(Membership.objects.filter(user=target).values_list("role", "is_active")) == [("registrar", False)]
    assert _client(target).get("/").status_code == 404  # no tenant left to work for
    page = admin.get("/amministrazione/utenti/").content.decode()
    assert "Sospeso" in page  # still listed, so it can be restored
    admin.post(f"/amministrazione/utenti/{target.pk}/accesso/", {"active": "1"})
    assert _client(target).get("/").status_code == 200
    changes = [e.after for e in _events(office["tenant"], object_type="user", object_id=str(target.pk), action="update")]
    assert changes == [{"active": False}, {"active": True}]


def test_memberships_of_other_tenants_are_never_shown_nor_changed(office):
    other = make_tenant("Comune di Lucca")
    shared = make_user(office["tenant"], Role.REGISTRAR)
    Membership.objects.create(user=shared, tenant=other, role=Role.PROCESS_ADMIN)
    client = _client(office["supervisor"])
    page = client.get(f"/amministrazione/utenti/{shared.pk}/").content.decode()
    assert "lavora anche per altri enti" in page and "Comune di Lucca" not in page
    assert 'value="process_admin" checked' not in page
    client.post(f"/amministrazione/utenti/{shared.pk}/ruoli/", {"roles": ["viewer"]})
    client.post(f"/amministrazione/utenti/{shared.pk}/accesso/", {"active": "0"})
    assert list(Membership.objects.filter(user=shared, tenant=other).values_list("role", "is_active")) == [
        ("process_admin", True)]
    # a password opens every tenant: only the platform's support may reset it
    response = client.post(f"/amministrazione/utenti/{shared.pk}/password/", follow=True)
    assert "solo dall'assistenza della piattaforma" in response.content.decode()
    shared.refresh_from_db()
    assert shared.check_password("pw-test-123") and not shared.must_change_password


def test_password_reset_replaces_the_password_with_a_one_time_one(office):
    target = office["viewer"]
    client = _client(office["supervisor"])
    page = client.post(f"/amministrazione/utenti/{target.pk}/password/", follow=True).content.decode()
    password = page.split('id="one-time-password">')[1].split("<")[0]
    target.refresh_from_db()
    assert not target.check_password("pw-test-123") and target.check_password(password)
    assert target.must_change_password
    event = _events(office["tenant"], object_type="user", object_id=str(target.pk), action="update")[-1]
    assert event.extra == {"change": "password_reset"} and password not in event.summary
    # no admin resets their own password from here
    response = client.post(f"/amministrazione/utenti/{office['supervisor'].pk}/password/", follow=True)
    assert "Cambia password" in response.content.decode()
    assert User.objects.get(pk=office["supervisor"].pk).check_password("pw-test-123")


# --------------------------------------------------------------------------- incidents


def _failing(exc):
    def fn(params, ctx):
        raise exc

    return Operation("test.echo", "Chiamata di prova", fn)


def test_incident_page_explains_a_refusal_and_retry_recovers_the_case(office, monkeypatch, settings):
    settings.PROCEDO_OUTBOX_MAX_ATTEMPTS = 1
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    monkeypatch.setitem(_REGISTRY, "test.echo", _failing(PlatformRefused(
        "Il servizio ANPR ha rifiutato la richiesta (HTTP 422, codice EN422): dati incompleti", platform_code="EN422")))
    publish_bundle("service_then_task")
    case = case_start(tenant=office["tenant"], user=office["registrar"], process_id="service_then_task", data={})
    assert engine.outbox_deliver_due() == {"failed": 1}
    incident = Incident.objects.get(instance=case.instance)

    client = _client(office["admin"])
    page = client.get("/amministrazione/incidenti/").content.decode()
    assert f'href="/pratiche/{case.pk}/">{case.number}</a>' in page and "Servizio poi compito" in page
    assert "ha rifiutato la richiesta con il codice EN422" in page
    assert "<summary>Dettaglio tecnico</summary>" in page and "connectors.base.errors.PlatformRefused" in page
    assert "Chiamata di prova" in page  # the step, named by its operation
    assert "Nessun incidente risolto." in client.get("/amministrazione/incidenti/?stato=risolti").content.decode()

    # the platform is back: Riprova (htmx) queues the call again, the worker delivers it
    monkeypatch.setitem(_REGISTRY, "test.echo", Operation("test.echo", "Chiamata di prova", lambda p, c: {"ok": 1}))
    response = client.post(f"/amministrazione/incidenti/{incident.pk}/riprova/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="incident-{incident.pk}"' in response.content.decode() and "Nuovo tentativo avviato" in response.content.decode()
    assert engine.outbox_deliver_due() == {"done": 1}
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_by == office["admin"]
    assert case.work_items.get().bpmn_id == "check"
    resolved = client.get("/amministrazione/incidenti/?stato=risolti").content.decode()
    assert case.number in resolved and office["admin"].username in resolved
    assert case.number not in client.get("/amministrazione/incidenti/").content.decode()
    retried = _events(office["tenant"], object_type="case", object_id=str(case.pk), action="update")
    assert [e.extra["incident"] for e in retried] == [incident.pk] and retried[0].actor_username == office["admin"].username
    # a second retry of the same incident is a message, not an error
    again = client.post(f"/amministrazione/incidenti/{incident.pk}/riprova/", follow=True)
    assert again.status_code == 200 and "già stato risolto" in again.content.decode()


def test_script_incident_in_plain_words_and_a_failing_retry_says_so(office):
    publish_bundle("broken_script")
    case = case_start(tenant=office["tenant"], user=office["registrar"], process_id="broken_script", data={})
    incident = Incident.objects.get(instance=case.instance)
    client = _client(office["supervisor"])
    page = client.get("/amministrazione/incidenti/").content.decode()
    assert "Il calcolo automatico «Calcolo» non ha trovato un dato che si aspettava (numerator)." in page
    response = client.post(f"/amministrazione/incidenti/{incident.pk}/riprova/", follow=True)
    assert "non è riuscito nemmeno questa volta" in response.content.decode()
    new = Incident.objects.get(instance=case.instance, status="open")
    assert new.pk != incident.pk
    page = client.get("/amministrazione/incidenti/").content.decode()
    attempts = page.split("Tentativi</dt>")[1].split("</dd>")[0]
    assert attempts.endswith(">2")


@pytest.mark.parametrize("who", ["viewer", "registrar"])
def test_only_admins_retry_incidents(office, who):
    publish_bundle("broken_script")
    case = case_start(tenant=office["tenant"], user=office["registrar"], process_id="broken_script", data={})
    incident = Incident.objects.get(instance=case.instance)
    assert _client(office[who]).post(f"/amministrazione/incidenti/{incident.pk}/riprova/").status_code == 403
    assert Incident.objects.filter(instance=case.instance).count() == 1
    incident.refresh_from_db()
    assert incident.status == "open"


def _incident(details: str, kind: str = "service_failed"):
    return SimpleNamespace(kind=kind, details=details, message="", task_name="Calcolo", task_bpmn_id="calc")


@pytest.mark.parametrize(
    ("last_line", "category", "words"),
    [
        ("connectors.base.errors.ConnectorTimeout: Il servizio anpr non ha risposto in tempo", "timeout",
         "Il servizio ANPR non ha risposto in tempo."),
        ("connectors.base.errors.ConnectorUnavailable: HTTP 503", "unreachable", "ANPR non è raggiungibile"),
        ("httpx.ConnectError: [Errno 111] Connection refused", "unreachable", "ANPR non è raggiungibile"),
        ("connectors.base.errors.PlatformRefused: rifiutato (HTTP 404, codice -): -", "refused",
         "ANPR ha rifiutato la richiesta con il codice HTTP 404."),
        ("connectors.base.errors.InvalidRequest: manca il codice fiscale", "invalid_data",
         "I dati della pratica non sono validi per il servizio ANPR."),
        ("connectors.base.errors.MalformedXml: not well-formed", "bad_answer", "una risposta che Procedo non riesce"),
        ("RuntimeError: boom", "other", "Il servizio ANPR non ha risposto correttamente."),
    ],
)
def test_technical_errors_are_told_in_plain_italian(last_line, category, words):
    details = f'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise X\n{last_line}\n'
    explanation = incident_explain(_incident(details), operation="anpr.mutazione_residenza")
    assert explanation.category == category and words in explanation.text


def test_an_unknown_operation_and_bad_script_data_are_told_apart():
    unknown = incident_explain(
        _incident("common.operations.PermanentError: Operazione sconosciuta: x.y"), operation="x.y"
    )
    assert unknown.category == "unknown_operation" and "x.y" in unknown.text
    bad = incident_explain(_incident(
        "SpiffWorkflow.bpmn.exceptions.WorkflowTaskException: ZeroDivisionError:division by zero", kind="script_error"))
    assert bad.text == "Il calcolo automatico «Calcolo» ha ricevuto dati non validi."
