"""Publishing a draft: validated, approved by a second person (another process admin or a
supervisor), immutable, for the tenant only, audited with the diff; refused when the draft changed."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from common.errors import Conflict, PermissionRefused, ValidationFailed
from studio import services
from studio.models import DraftStatus, PublishRequest, RequestStatus
from tests.studio.helpers import MAIN, RENAMED_TASK, edit, fork, insert_task, scenarios_passed

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _request(office, draft):
    scenarios_passed(office, draft)
    return services.publish_request_create(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk,
                                           note="Verifica dei documenti prima di ANPR")


def test_a_supervisor_approves_and_the_variant_is_published_and_audited_with_the_diff(capannori):
    draft = insert_task(capannori, fork(capannori))
    request = _request(capannori, draft)
    assert request.diff_summary["elements_added"] == ["check_documents", "f_checked"]
    assert "forms/check_documents.schema.json" in request.diff_summary["forms_changed"]

    version = services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                               request_id=request.pk, note="ok")
    request.refresh_from_db()
    draft.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.version == version
    assert draft.status == DraftStatus.PUBLISHED
    assert version.tenant == capannori["tenant"] and version.files == draft.files
    with pytest.raises(ValueError):
        version.save()  # immutable
    event = AuditEvent.objects.get(tenant=capannori["tenant"], object_type="process_version", object_id=str(version.pk))
    assert event.actor == capannori["supervisor"]
    assert event.after["content_hash"] == version.content_hash
    assert event.after["requested_by"] == capannori["admin"].username
    assert event.after["diff"]["elements_added"] == ["check_documents", "f_checked"]


def test_another_process_admin_may_approve(capannori):
    request = _request(capannori, edit(capannori, fork(capannori), MAIN, *RENAMED_TASK))
    version = services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["admin2"],
                                               request_id=request.pk)
    assert version.tenant == capannori["tenant"]


def test_nobody_approves_their_own_request_and_other_roles_never(capannori):
    request = _request(capannori, edit(capannori, fork(capannori), MAIN, *RENAMED_TASK))
    with pytest.raises(PermissionRefused) as refused:
        services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["admin"], request_id=request.pk)
    assert refused.value.code == "four_eyes"
    for who in ("registrar", "viewer", "police"):
        with pytest.raises(PermissionRefused):
            services.publish_request_approve(tenant=capannori["tenant"], actor=capannori[who], request_id=request.pk)
    assert PublishRequest.objects.get(pk=request.pk).status == RequestStatus.PENDING


def test_a_draft_with_errors_cannot_be_submitted(capannori):
    draft = insert_task(capannori, fork(capannori), due=None)
    with pytest.raises(ValidationFailed) as refused:
        _request(capannori, draft)
    assert refused.value.code == "draft_invalid"
    assert {p["code"] for p in refused.value.details["problems"]} >= {"missing_due_date"}


def test_an_unchanged_draft_has_nothing_to_publish(capannori):
    with pytest.raises(ValidationFailed) as refused:
        _request(capannori, fork(capannori))
    assert refused.value.code == "no_changes"


def test_approval_is_refused_when_the_draft_changed_after_the_request(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    request = _request(capannori, draft)
    edit(capannori, draft, MAIN, "(Capannori)", "(Capannori, rivista)")
    with pytest.raises(Conflict) as refused:
        services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                         request_id=request.pk)
    assert refused.value.code == "draft_changed"
    assert PublishRequest.objects.get(pk=request.pk).version is None


def test_one_pending_request_per_draft_and_a_rejection_is_audited(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    request = _request(capannori, draft)
    with pytest.raises(Conflict):
        _request(capannori, draft)
    services.publish_request_reject(tenant=capannori["tenant"], actor=capannori["supervisor"], request_id=request.pk,
                                    note="Manca la motivazione")
    assert AuditEvent.objects.filter(tenant=capannori["tenant"], object_type="publish_request",
                                     object_id=str(request.pk), action="update").exists()
    with pytest.raises(Conflict):
        services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                         request_id=request.pk)
    assert _request(capannori, draft).status == RequestStatus.PENDING  # asked again after the rejection


def test_another_tenant_cannot_decide_a_request(capannori, lucca):
    from common.errors import NotFound

    request = _request(capannori, edit(capannori, fork(capannori), MAIN, *RENAMED_TASK))
    with pytest.raises(NotFound):
        services.publish_request_approve(tenant=lucca["tenant"], actor=lucca["supervisor"], request_id=request.pk)


# --------------------------------------------------------------------------- gated on the scenarios


def _ask(office, draft):
    return services.publish_request_create(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk)


def _refusal(office, draft) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        _ask(office, draft)
    return refused.value


def test_a_request_needs_every_scenario_passed_on_exactly_this_content(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    refused = _refusal(capannori, draft)
    assert refused.code == "scenarios_not_run" and "non sono ancora stati eseguiti" in refused.message

    scenarios_passed(capannori, draft, passed=None)  # still running
    assert _refusal(capannori, draft).code == "scenarios_running"

    failing = scenarios_passed(capannori, draft, passed=False)
    refused = _refusal(capannori, draft)
    assert refused.code == "scenarios_failed" and f"n. {failing.pk}" in refused.message and "accepted" in refused.message
    assert refused.details["scenarios"]["run"] == failing.pk
    assert refused.details["scenarios"]["results"][0] == {"name": "accepted", "passed": False}

    broken = scenarios_passed(capannori, draft, status="failed", error="il sandbox non si è avviato")
    refused = _refusal(capannori, draft)
    assert refused.code == "scenarios_error" and f"n. {broken.pk}" in refused.message and "sandbox" in refused.message

    passed = scenarios_passed(capannori, draft)
    # One character more after the green run: the run is about other content.
    edit(capannori, draft, MAIN, "(Capannori)", "(Capannori.)")
    refused = _refusal(capannori, draft)
    assert refused.code == "scenarios_outdated" and f"n. {passed.pk}" in refused.message
    assert not PublishRequest.objects.filter(draft=draft).exists()

    green = scenarios_passed(capannori, draft)
    request = _ask(capannori, draft)
    assert request.scenario_run == green and request.content_hash == green.content_hash
    event = AuditEvent.objects.get(tenant=capannori["tenant"], object_type="publish_request",
                                   object_id=str(request.pk), action="create")
    assert event.after["scenarios"]["passed"] and event.after["scenarios"]["run"] == green.pk
    assert event.after["scenarios"]["content_hash"] == request.content_hash


def test_a_run_that_misses_scenarios_or_a_draft_without_any_is_refused(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    run = scenarios_passed(capannori, draft)
    from studio.models_tools import ScenarioRun

    ScenarioRun.objects.filter(pk=run.pk).update(results=run.results[:3])
    refused = _refusal(capannori, draft)
    assert refused.code == "scenarios_incomplete" and run.results[3]["name"] in refused.message
    services.draft_file_delete(tenant=capannori["tenant"], actor=capannori["admin"], draft_id=draft.pk,
                               path="tests.yaml")
    assert _refusal(capannori, draft).code == "no_scenarios"


def test_approval_is_refused_and_audited_when_the_latest_run_on_the_content_failed(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    request = _request(capannori, draft)
    # Run again on the same content, and this time it fails (a scenario depending on a simulator's state).
    failing = scenarios_passed(capannori, draft, passed=False)
    with pytest.raises(ValidationFailed) as refused:
        services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                         request_id=request.pk)
    assert refused.value.code == "scenarios_failed"
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and request.version is None
    event = AuditEvent.objects.filter(tenant=capannori["tenant"], object_type="publish_request",
                                      object_id=str(request.pk), action="update").latest("pk")
    assert event.actor == capannori["supervisor"] and event.after["refused"] == "scenarios_failed"
    assert event.after["scenarios"]["run"] == failing.pk and "rifiutata" in event.summary

    green = scenarios_passed(capannori, draft)
    version = services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                               request_id=request.pk)
    decided = AuditEvent.objects.filter(tenant=capannori["tenant"], object_type="publish_request",
                                        object_id=str(request.pk), action="update").latest("pk")
    assert decided.after["status"] == "approved" and decided.after["scenarios"]["run"] == green.pk
    assert version.content_hash == green.content_hash


def test_a_recording_run_or_another_drafts_run_does_not_count(capannori):
    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    other = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)  # same content, another draft
    scenarios_passed(capannori, other)
    run = scenarios_passed(capannori, draft)
    from studio.models_tools import ScenarioRun

    ScenarioRun.objects.filter(pk=run.pk).update(kind="recording")
    assert _refusal(capannori, draft).code == "scenarios_not_run"


def test_pages_show_the_verdict_to_the_requester_and_to_the_approver(capannori):
    from tests.factories import second_factor_client

    draft = edit(capannori, fork(capannori), MAIN, *RENAMED_TASK)
    failing = scenarios_passed(capannori, draft, passed=False)
    client = second_factor_client(capannori["admin"])
    html = client.get(f"/studio/bozze/{draft.pk}/").content.decode()
    assert 'data-scenario-gate="scenarios_failed"' in html and "Non si può ancora chiedere l'approvazione" in html
    assert f"Esecuzione n. {failing.pk}" in html and "fallito" in html
    response = client.post(f"/studio/bozze/{draft.pk}/richiesta/", {"note": "x"}, follow=True)
    assert "non sono riusciti" in response.content.decode()
    assert not PublishRequest.objects.filter(draft=draft).exists()

    request = _request(capannori, draft)
    scenarios_passed(capannori, draft, passed=False)  # a later run on the same content fails
    client = second_factor_client(capannori["supervisor"])
    html = client.get(f"/studio/approvazioni/{request.pk}/").content.decode()
    assert "Non si può approvare:" in html and "Approva e pubblica" not in html and "Respingi" in html
    assert f"tutti riusciti (esecuzione n. {request.scenario_run_id})" in html
    scenarios_passed(capannori, draft)
    html = client.get(f"/studio/approvazioni/{request.pk}/").content.decode()
    assert 'data-scenario-gate="scenarios_passed"' in html and "Approva e pubblica" in html


def test_in_the_sandbox_a_variant_fails_the_shipped_scenario_until_the_admin_adapts_it(capannori):
    """The real run: the inserted task stops the shipped scenario; completing it in the scenario
    makes the run green on exactly the content that is then asked for and approved."""
    import yaml

    from studio.scenarios import scenario_run_execute, scenario_run_start

    draft = insert_task(capannori, fork(capannori))
    shipped = yaml.safe_load(draft.files["tests.yaml"])
    accepted = next(s for s in shipped["scenarios"] if s["name"] == "accepted")
    services.draft_file_save(tenant=capannori["tenant"], actor=capannori["admin"], draft_id=draft.pk,
                             path="tests.yaml", content=yaml.safe_dump({"scenarios": [accepted]}, sort_keys=False))

    def run():
        draft.refresh_from_db()
        started = scenario_run_start(tenant=capannori["tenant"], user=capannori["admin"], draft_id=str(draft.pk),
                                     process_id=draft.process_id, files=dict(draft.files))
        return scenario_run_execute(run_id=started.pk, files=dict(draft.files))

    red = run()
    assert [(r["name"], r["passed"]) for r in red.results] == [("accepted", False)], red.results
    assert "check_documents" in red.results[0]["message"]
    assert _refusal(capannori, draft).code == "scenarios_failed"

    steps = accepted["steps"]
    at = next(i for i, s in enumerate(steps) if s.get("complete") == "registration") + 1
    steps.insert(at, {"complete": "check_documents", "data": {"documents_ok": True}})
    services.draft_file_save(tenant=capannori["tenant"], actor=capannori["admin"], draft_id=draft.pk,
                             path="tests.yaml", content=yaml.safe_dump({"scenarios": [accepted]}, sort_keys=False))
    green = run()
    assert [(r["name"], r["passed"]) for r in green.results] == [("accepted", True)], green.results
    request = _ask(capannori, draft)
    assert request.scenario_run == green
    version = services.publish_request_approve(tenant=capannori["tenant"], actor=capannori["supervisor"],
                                               request_id=request.pk)
    assert version.content_hash == green.content_hash
