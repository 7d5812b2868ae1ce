"""Small edits of the shipped residence change used across the studio tests."""

from __future__ import annotations

from studio import services
from studio.models import Draft

MAIN = "residence_change.bpmn"


def fork(office, process_id: str = "residence_change") -> Draft:
    from engine.selectors import process_latest_version

    version = process_latest_version(process_id=process_id, tenant=office["tenant"])
    return services.draft_create(tenant=office["tenant"], actor=office["admin"], version_id=version.pk)


def edit(office, draft: Draft, path: str, old: str, new: str) -> Draft:
    draft.refresh_from_db()
    text = draft.files[path]
    assert old in text, f"{old!r} not in {path}"
    return services.draft_file_save(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk, path=path,
                                    content=text.replace(old, new, 1))


RENAMED_TASK = ('<bpmn:userTask id="registration" name="Registrazione della dichiarazione">',
                '<bpmn:userTask id="registration" name="Registrazione della dichiarazione (Capannori)">')


def publish(office, draft: Draft, approver: str = "supervisor"):
    request = services.publish_request_create(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk)
    return services.publish_request_approve(tenant=office["tenant"], actor=office[approver], request_id=request.pk)
