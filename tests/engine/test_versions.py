"""A running case stays on the process version it started with; new cases take the newest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start, work_item_complete
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
BENCH = Path(__file__).resolve().parents[2] / "bench" / "three_tasks"


def test_running_cases_keep_their_version(tmp_path):
    root = tmp_path / "processes"
    shutil.copytree(BENCH, root / "three_tasks")
    call_command("sync_processes", dir=str(root), verbosity=0)
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    old_case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})

    # v2 renames the second step and drops the third
    bpmn = root / "three_tasks" / "three_tasks.bpmn"
    text = bpmn.read_text().replace('name="Secondo"', 'name="Secondo (v2)"')
    text = text.replace('<bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="third" />',
                        '<bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end" />')
    text = text.replace('<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>\n    </bpmn:userTask>', '</bpmn:userTask>', 1)
    text = text.replace('<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>',
                        '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>')
    text = text.replace('<bpmn:sequenceFlow id="f4" sourceRef="third" targetRef="end" />', '')
    import re

    text = re.sub(r'<bpmn:userTask id="third".*?</bpmn:userTask>', '', text, flags=re.S)
    text = text.replace('<bpmn:flowNodeRef>third</bpmn:flowNodeRef>', '')
    bpmn.write_text(text)
    call_command("sync_processes", dir=str(root), verbosity=0)
    new_case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
    assert new_case.process_version.version == 2 and old_case.process_version.version == 1

    def walk(case):
        names = []
        while (item := WorkItem.objects.filter(case=case, status="open").first()) is not None:
            names.append(item.name)
            work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data={"ok": True})
        return names

    assert walk(old_case) == ["Primo", "Secondo", "Terzo"]
    assert walk(new_case) == ["Primo", "Secondo (v2)"]
