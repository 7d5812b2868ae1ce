"""Publishing a draft: validated, approved by a second person (another process admin or a
supervisor), immutable, for the tenant only, audited with the diff; refused when the draft changed."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from common.errors import Conflict, PermissionRefused, ValidationFailed
from studio import services
from studio.models import DraftStatus, PublishRequest, RequestStatus
from tests.studio.helpers import MAIN, RENAMED_TASK, edit, fork, insert_task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _request(office, draft):
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
