"""The next write of an instance takes the workflow object its previous step left in this process
(engine.runtime._WARM) instead of deserialising the same text again, and only when the locked row still
holds exactly the text that step committed."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction

from accounts.roles import Role
from cases.models import WorkItem
from cases.projection import project
from cases.services import case_start, work_item_complete
from common.errors import NotFound
from engine import runtime
from engine import services as engine_services
from engine.locks import lock_instance
from engine.models import WorkflowInstance
from engine.spiff import dump_workflow
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


@pytest.fixture
def started(tmp_path, django_capture_on_commit_callbacks):
    root = tmp_path / "processes"
    shutil.copytree(BENCH, root / "three_tasks")
    call_command("sync_processes", dir=str(root), verbosity=0)
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    runtime.forget_warm_workflows()
    with django_capture_on_commit_callbacks(execute=True):
        case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
    yield tenant, user, case, WorkflowInstance.objects.get(case=case)
    runtime.forget_warm_workflows()


def _complete(tenant, user, case, capture) -> None:
    item = WorkItem.objects.get(case=case, status="open")
    with capture(execute=True):
        work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data={"ok": True})


def test_the_next_step_moves_on_the_workflow_its_process_committed(started, django_capture_on_commit_callbacks):
    tenant, user, case, instance = started
    state, _version, warm = runtime._WARM[instance.pk]
    assert state == instance.state
    _complete(tenant, user, case, django_capture_on_commit_callbacks)
    instance.refresh_from_db()
    state, _version, workflow = runtime._WARM[instance.pk]
    assert workflow is warm and state == instance.state
    # What it saved is what a cold load of the row reads back.
    assert dump_workflow(runtime.load_for_read(instance)) == instance.state
    assert WorkItem.objects.get(case=case, status="open").bpmn_id == "second"


def test_a_row_another_writer_changed_is_read_from_the_row(started, django_capture_on_commit_callbacks):
    tenant, user, case, instance = started
    warm = runtime._WARM[instance.pk][2]
    # Another process wrote the row: the same case, another text.
    other = json.dumps(json.loads(instance.state), indent=1)
    WorkflowInstance.objects.filter(pk=instance.pk).update(state=other)
    _complete(tenant, user, case, django_capture_on_commit_callbacks)
    assert runtime._WARM[instance.pk][2] is not warm
    assert WorkItem.objects.get(case=case, status="open").bpmn_id == "second"


def test_a_step_that_fails_leaves_no_workflow_behind(started, django_capture_on_commit_callbacks):
    tenant, user, case, instance = started
    with pytest.raises(NotFound), transaction.atomic():
        engine_services.instance_complete_task(task_id=str(uuid.uuid4()), data={}, actor_username=user.username,
                                               instance=lock_instance(instance.pk), projector=project)
    assert instance.pk not in runtime._WARM
    _complete(tenant, user, case, django_capture_on_commit_callbacks)
    assert WorkItem.objects.get(case=case, status="open").bpmn_id == "second"
