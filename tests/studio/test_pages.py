"""The studio's pages: who gets in (process admins edit, supervisors read and approve, others 403),
every page renders for its users, and a publication goes through the pages from request to approval."""

from __future__ import annotations

import pytest

from engine.models import ProcessVersion
from studio.models import PublishRequest
from tests.factories import second_factor_client
from tests.studio.helpers import MAIN, RENAMED_TASK, edit, fork, scenarios_passed

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.mark.parametrize("who", ["registrar", "viewer", "police"])
def test_other_roles_are_refused_everywhere(capannori, who):
    draft = fork(capannori)
    client = second_factor_client(capannori[who])
    for url in ["/studio/", "/studio/approvazioni/", f"/studio/bozze/{draft.pk}/",
                "/studio/procedimenti/residence_change/versioni/", f"/studio/differenze/?bozza={draft.pk}",
                f"/studio/bozze/{draft.pk}/esporta/"]:
        assert client.get(url).status_code == 403, url
    version = draft.base_version_id
    assert client.post("/studio/bozze/nuova/", {"version": version}).status_code == 403
    assert 'href="/studio/"' not in client.get("/").content.decode()


def test_supervisors_read_and_approve_but_do_not_edit(capannori):
    draft = fork(capannori)
    client = second_factor_client(capannori["supervisor"])
    assert 'href="/studio/"' in client.get("/").content.decode()
    home = client.get("/studio/").content.decode()
    assert "Studio dei procedimenti" in home and "Nuova bozza" not in home
    page = client.get(f"/studio/bozze/{draft.pk}/").content.decode()
    assert "Apri l&#x27;editor" not in page and "Apri l'editor" not in page
    assert client.post("/studio/bozze/nuova/", {"version": draft.base_version_id}).status_code == 403
    assert client.get(f"/studio/bozze/{draft.pk}/modifica/").status_code == 403
    assert client.post(f"/studio/bozze/{draft.pk}/richiesta/").status_code == 403
    assert client.post(f"/studio/bozze/{draft.pk}/scarta/").status_code == 403


def test_every_page_renders_for_a_process_admin(capannori):
    client = second_factor_client(capannori["admin"])
    home = client.get("/studio/").content.decode()
    assert "Cambio di residenza" in home and "Nuova bozza" in home
    created = client.post("/studio/bozze/nuova/", {"version": ProcessVersion.objects.get(
        definition__process_id="residence_change").pk})
    draft_url = created["Location"]
    draft_id = int(draft_url.rstrip("/").rsplit("/", 1)[1])
    page = client.get(draft_url).content.decode()
    assert f'href="/studio/bozze/{draft_id}/modifica/"' in page and "Nessun problema" in page
    editor = client.get(f"/studio/bozze/{draft_id}/modifica/").content.decode()
    for attribute in ('id="studio-modeler"', f'data-draft="{draft_id}"', f'data-file-url="/studio/bozze/{draft_id}/file/"',
                      f'data-save-url="/studio/bozze/{draft_id}/file/"', f'data-validate-url="/studio/bozze/{draft_id}/valida/"',
                      f'data-palette-url="/studio/bozze/{draft_id}/tavolozza/"', "data-form-preview-url=", "data-forms-url="):
        assert attribute in editor, attribute
    text = client.get(f"/studio/bozze/{draft_id}/testo/", {"path": "manifest.yaml"}).content.decode()
    assert "Cambio di residenza" in text
    assert client.get(f"/studio/bozze/{draft_id}/testo/", {"path": "non/esiste.json"}).status_code == 404
    assert client.get("/studio/procedimenti/residence_change/versioni/").status_code == 200
    assert client.get("/studio/procedimenti/non_esiste/versioni/").status_code == 404
    assert client.get("/studio/approvazioni/").status_code == 200
    assert client.get(f"/studio/differenze/?bozza={draft_id}").status_code == 200
    assert client.get("/studio/differenze/?da=x&a=y").status_code == 404
    diagram = client.get(f"/studio/bozze/{draft_id}/diagramma/")
    assert diagram.status_code == 200 and diagram["Content-Type"].startswith("application/xml")


def test_a_file_edited_without_javascript_shows_its_problems(capannori):
    draft = fork(capannori)
    client = second_factor_client(capannori["admin"])
    broken = draft.files[MAIN].replace('<bpmn:lane id="lane_police" name="police">', '<bpmn:lane id="lane_police" name="vigili">')
    response = client.post(f"/studio/bozze/{draft.pk}/testo/", {"path": MAIN, "content": broken}, follow=True)
    page = response.content.decode()
    assert "unknown_role" in page and "police_verification" in page and 'data-error="police_verification"' in page
    refused = client.post(f"/studio/bozze/{draft.pk}/testo/", {"path": "../x.json", "content": "{}"}, follow=True)
    assert "Percorso non ammesso" in refused.content.decode()


def test_request_and_approval_through_the_pages(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    scenarios_passed(capannori, draft)
    admin = second_factor_client(capannori["admin"])
    admin.post(f"/studio/bozze/{draft.pk}/richiesta/", {"note": "Nome del compito per Capannori"})
    request = PublishRequest.objects.get(draft=draft)
    own = admin.get(f"/studio/approvazioni/{request.pk}/").content.decode()
    assert "Approva e pubblica" not in own and "Ritira la richiesta" in own
    refused = admin.post(f"/studio/approvazioni/{request.pk}/approva/", follow=True)
    assert "seconda persona" in refused.content.decode()

    supervisor = second_factor_client(capannori["supervisor"])
    listing = supervisor.get("/studio/approvazioni/").content.decode()
    assert draft.title in listing and "Esamina e decidi" in listing
    detail = supervisor.get(f"/studio/approvazioni/{request.pk}/").content.decode()
    assert "Approva e pubblica" in detail and "Nome del compito per Capannori" in detail and "registration" in detail
    done = supervisor.post(f"/studio/approvazioni/{request.pk}/approva/", {"note": "ok"}, follow=True)
    assert "Pubblicata la versione" in done.content.decode()
    request.refresh_from_db()
    assert request.version.tenant == capannori["tenant"]
    history = supervisor.get("/studio/procedimenti/residence_change/versioni/").content.decode()
    assert f"{request.version.version} · <strong>in uso per le nuove pratiche" in history


def test_english_pages(capannori):
    client = second_factor_client(capannori["admin"])
    client.cookies["django_language"] = "en"
    page = client.get("/studio/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Process studio" in page


def test_the_form_editor_page_opens_a_form_of_the_draft_and_only_that(capannori, lucca):
    draft = fork(capannori)
    client = second_factor_client(capannori["admin"])
    url = f"/studio/bozze/{draft.pk}/modulo/"
    page = client.get(url, {"path": "forms/registration.schema.json"}).content.decode()
    for attribute in ('id="studio-form-editor"', 'data-path="forms/registration.schema.json"',
                      f'data-file-url="/studio/bozze/{draft.pk}/file/"', f'data-save-url="/studio/bozze/{draft.pk}/file/"',
                      f'data-form-preview-url="/studio/bozze/{draft.pk}/anteprima-modulo/"'):
        assert attribute in page, attribute
    # The draft page links each form to it, the modeler's "form" field builds on data-forms-url.
    detail = client.get(f"/studio/bozze/{draft.pk}/").content.decode()
    assert f'href="{url}?path=forms/registration.schema.json"' in detail
    editor = client.get(f"/studio/bozze/{draft.pk}/modifica/").content.decode()
    assert f'data-forms-url="{url}"' in editor
    # Not a form, not in the draft, or a path that tries to leave it: 404, never a 500.
    for path in ["", "manifest.yaml", "forms/registration.uischema.json", "forms/nope.schema.json",
                 "../forms/registration.schema.json", "/etc/passwd", "forms/<script>.schema.json"]:
        assert client.get(url, {"path": path}).status_code == 404, path
    # Supervisors read but do not edit; another municipality does not see the draft at all.
    assert second_factor_client(capannori["supervisor"]).get(
        url, {"path": "forms/registration.schema.json"}).status_code == 403
    assert second_factor_client(lucca["admin"]).get(
        url, {"path": "forms/registration.schema.json"}).status_code == 404
