"""A draft's scenarios run from the studio in a sandbox (own SQLite database copied from a migrated
template, simulators over HTTP, frozen clock, time limit), with a stored report per scenario; and a
walk-through recorded in the sandbox becomes a scenario that replays green."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cases.models import Case
from engine.bundles import read_bundle
from studio import recording
from studio.models_tools import ScenarioRun
from studio.scenarios import PROCESSES, SandboxError, run_in_sandbox, write_bundle
from tests.studio import test_tools_support

make_draft = test_tools_support.make_draft  # fixtures shared by the studio tool tests
admin_client = test_tools_support.admin_client

DECLARATION = {"declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
               "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
               "declaration_date": "2026-03-01"}


def _files_with_scenarios(scenarios: list[dict]) -> dict[str, str]:
    files = dict(read_bundle(PROCESSES / "residence_change").files)
    files["tests.yaml"] = yaml.safe_dump({"scenarios": scenarios}, allow_unicode=True, sort_keys=False)
    return files


def _shipped(name: str) -> dict:
    raw = yaml.safe_load((PROCESSES / "residence_change" / "tests.yaml").read_text())
    return next(s for s in raw["scenarios"] if s["name"] == name)


@pytest.fixture
def eager_celery():
    """The Celery app runs queued tasks in this process (the task code is the worker's)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# ---------------------------------------------------------------- the sandbox


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_drafts_scenarios_run_in_the_sandbox_each_with_its_verdict_and_first_difference():
    wrong = {**_shipped("accepted"), "name": "accepted_but_wrong_expectation",
             "expect": {"status": "closed", "outcome": "silence_assent"}}
    files = _files_with_scenarios([_shipped("accepted"), wrong, {"name": "broken", "start": {"as": "registrar"}}])
    results = run_in_sandbox("residence_change", files)
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == ["accepted", "accepted_but_wrong_expectation", "broken"]
    assert by_name["accepted"].passed and by_name["accepted"].message == ""
    assert not by_name["accepted_but_wrong_expectation"].passed
    assert "expect finale: esito 'accepted', atteso 'silence_assent'" in by_name["accepted_but_wrong_expectation"].message
    assert not by_name["broken"].passed and "manca 'data'" in by_name["broken"].message
    # The sandbox had its own database: nothing of the three cases is here.
    assert Case.objects.count() == 0


def test_past_the_time_limit_the_sandbox_is_killed_and_the_scenarios_not_reached_are_reported():
    files = _files_with_scenarios([_shipped("accepted"), _shipped("restored")])
    results = run_in_sandbox("residence_change", files, timeout=0.5)
    assert [(r.name, r.passed) for r in results] == [("accepted", False), ("restored", False)]
    assert all(r.message == "non eseguito: tempo scaduto (0 s)" for r in results)


def test_a_draft_file_path_cannot_leave_the_sandbox_folder(tmp_path: Path):
    for path in ("../escape.yaml", "/etc/passwd", "forms/../../x.json"):
        with pytest.raises(SandboxError):
            write_bundle({path: "x"}, tmp_path / "residence_change")
    assert not (tmp_path / "escape.yaml").exists()


# ---------------------------------------------------------------- from the studio's page


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_admin_launches_the_run_and_the_page_shows_the_stored_report(office, admin_client, make_draft,
                                                                        eager_celery,
                                                                        django_capture_on_commit_callbacks):
    files = _files_with_scenarios([_shipped("accepted")])
    draft = make_draft(office["tenant"], files=files)
    page = admin_client.get(f"/studio/bozze/{draft.pk}/scenari/")
    assert page.status_code == 200 and "<code>accepted</code>" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/studio/bozze/{draft.pk}/scenari/avvia/")
    assert response.status_code == 302
    run = ScenarioRun.objects.get(draft_id=str(draft.pk))
    assert run.status == "done" and run.created_by == office["admin"]
    assert [(r["name"], r["passed"]) for r in run.results] == [("accepted", True)]
    status = admin_client.get(f"/studio/bozze/{draft.pk}/scenari/esecuzioni/{run.pk}/?format=json").json()
    assert status["finished"] and status["results"][0]["passed"]
    html = admin_client.get(f"/studio/bozze/{draft.pk}/scenari/").content.decode()
    assert "1 riusciti, 0 falliti" in html and "hx-trigger" not in html  # finished: no more polling


@pytest.mark.django_db
def test_another_tenants_draft_and_run_are_not_found(office, other_office, admin_client, make_draft):
    theirs = make_draft(other_office["tenant"])
    assert admin_client.get(f"/studio/bozze/{theirs.pk}/scenari/").status_code == 404
    assert admin_client.post(f"/studio/bozze/{theirs.pk}/scenari/avvia/").status_code == 404
    mine = make_draft(office["tenant"])
    run = ScenarioRun.objects.create(tenant=other_office["tenant"], draft_id=str(mine.pk), process_id="x",
                                     created_at="2026-01-01T00:00:00Z")
    assert admin_client.get(f"/studio/bozze/{mine.pk}/scenari/esecuzioni/{run.pk}/").status_code == 404


# ---------------------------------------------------------------- recording a walk-through


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_recorded_walk_through_is_saved_to_tests_yaml_and_replays_green(office, admin_client, make_draft,
                                                                         eager_celery,
                                                                         django_capture_on_commit_callbacks):
    import json

    draft = make_draft(office["tenant"])
    shipped_yaml = draft.files["tests.yaml"]
    base = f"/studio/bozze/{draft.pk}/scenari"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{base}/registra/", {"name": "recorded_accept", "as": "registrar",
                                                          "data": json.dumps(DECLARATION)})
    rec = ScenarioRun.objects.get(kind="recording")
    assert response.url == f"{base}/registrazioni/{rec.pk}/"
    page = admin_client.get(response.url).content.decode()
    assert "Registrazione della dichiarazione" in page  # the open task, with its form
    assert 'name="registration.origin"' in page

    def act(**post):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(f"{base}/registrazioni/{rec.pk}/passo/", post)
        rec.refresh_from_db()
        assert rec.status == "done", rec.error
        return rec.results[0]

    result = act(kind="complete", task="registration", **{"registration.origin": "same_municipality",
                                                           "registration.documents_checked": "true",
                                                           "registration.documents_checked__present": "1"})
    assert result["passed"], result["message"]
    assert result["state"]["pending_calls"] >= 1
    result = act(kind="deliver_outbox")
    assert [t["bpmn_id"] for t in result["state"]["ready"]] == ["police_verification"]
    # A step the product refuses shows as a failed replay, and is undone.
    result = act(kind="complete", task="police_verification", **{"police_verification.outcome": "positive"})
    assert not result["passed"] and "rifiutato" in result["message"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"{base}/registrazioni/{rec.pk}/annulla/")
    rec.refresh_from_db()
    assert rec.results[0]["passed"] and len(rec.spec["steps"]) == 2
    result = act(kind="complete", task="police_verification", **{
        "police_verification.outcome": "positive", "police_verification.visit_date": "10/03/2026",
        "police_verification.found_at_address": "true", "police_verification.found_at_address__present": "1"})
    assert result["passed"], result["message"]
    result = act(kind="deliver_outbox")
    assert result["state"]["status"] == "closed" and result["state"]["outcome"] == "accepted"

    saved = admin_client.post(f"{base}/registrazioni/{rec.pk}/salva/")
    assert saved.status_code == 302
    draft.refresh_from_db()
    text = draft.files["tests.yaml"]
    assert text.startswith(shipped_yaml.rstrip("\n"))  # appended: the file's comments and anchors stay
    scenario = yaml.safe_load(text)["scenarios"][-1]
    assert scenario["name"] == "recorded_accept"
    assert [next(iter(s)) for s in scenario["steps"]] == ["complete", "deliver_outbox", "complete", "deliver_outbox"]
    assert scenario["expect"] == {"ready": [], "status": "closed", "outcome": "accepted",
                                  # the declaration and the outcome deed, each filed with its protocol signature
                                  "documents": {"comunicazione_avvio": 1, "comunicazione_esito": 1,
                                                "dichiarazione": 1, "segnatura": 3}}
    # Round trip: the ordinary scenario run replays the recorded scenario green.
    [replayed] = run_in_sandbox("residence_change", draft.files, only=["recorded_accept"])
    assert replayed.passed, replayed.message


def test_a_recorded_step_must_fit_the_model_and_a_taken_name_is_refused():
    files = dict(read_bundle(PROCESSES / "residence_change").files)
    spec = recording.recording_spec(process_id="residence_change", files=files, name="x", start_as="registrar",
                                    data=DECLARATION)
    with pytest.raises(recording.ValidationFailed, match="non è un compito"):
        recording.spec_with_step(process_id="residence_change", files=files, spec=spec,
                                 step=recording.step_from_action({"kind": "complete", "task": "registraton"}))
    with pytest.raises(recording.ValidationFailed, match="nome"):
        recording.recording_spec(process_id="residence_change", files=files, name="../x", start_as="registrar",
                                 data={})
    with pytest.raises(recording.ValidationFailed, match="Esiste già"):
        recording.tests_yaml_with(files["tests.yaml"], {"name": "accepted", "start": {}})
