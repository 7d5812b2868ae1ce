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


def scenarios_passed(office, draft: Draft, *, passed: bool | None = True, status: str = "done", error: str = ""):
    """A finished scenario run of the draft's current content, every scenario of its tests.yaml with
    the verdict `passed` (None: still running): what the sandbox stores (the real runs are in
    test_tools_scenarios.py and test_publish.py), for the tests about what a verdict allows."""
    from common import clock
    from studio.models_tools import ScenarioRun
    from studio.scenario_gate import scenario_names

    draft.refresh_from_db()
    names = scenario_names(draft.files)
    return ScenarioRun.objects.create(
        tenant=office["tenant"], draft_id=str(draft.pk), process_id=draft.process_id, kind="scenarios",
        status="running" if passed is None else status, content_hash=services.content_hash(draft.files),
        results=[] if passed is None else [{"name": n, "passed": passed, "message": "" if passed else "atteso altro",
                                            "seconds": 0.1} for n in names],
        error=error, created_by=office["admin"], created_at=clock.now())


def publish(office, draft: Draft, approver: str = "supervisor"):
    scenarios_passed(office, draft)
    request = services.publish_request_create(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk)
    return services.publish_request_approve(tenant=office["tenant"], actor=office[approver], request_id=request.pk)


NEW_FORM = """{"type": "object", "title": "Verifica dei documenti", "required": ["documents_ok"],
 "properties": {"documents_ok": {"type": "boolean", "title": "Documenti completi"},
                "note": {"type": "string", "title": "Note"}}}"""


def inserted_task_bpmn(text: str, *, due: str | None = "add_working_days(received_on, 3)") -> str:
    """The residence change with a user task `check_documents` in the registrar lane, between the
    registration and what follows it (what the issue's browser test adds in the modeler)."""
    import re

    flow = re.search(r'<bpmn:sequenceFlow id="f_registered" sourceRef="registration" targetRef="([^"]+)"\s*/>', text)
    assert flow, "f_registered not found"
    target = flow.group(1)
    due_prop = f'<spiffworkflow:property name="dueDate" value="{due}" />' if due else ""
    task = ('<bpmn:userTask id="check_documents" name="Verifica dei documenti">'
            '<bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formJsonSchemaFilename" value="check_documents.schema.json" />'
            f'{due_prop}</spiffworkflow:properties></bpmn:extensionElements>'
            '<bpmn:incoming>f_registered</bpmn:incoming><bpmn:outgoing>f_checked</bpmn:outgoing></bpmn:userTask>\n'
            f'    <bpmn:sequenceFlow id="f_checked" sourceRef="check_documents" targetRef="{target}" />\n    ')
    replacements = [
        ("<bpmn:incoming>f_registered</bpmn:incoming>", "<bpmn:incoming>f_checked</bpmn:incoming>"),
        ("<bpmn:flowNodeRef>registration</bpmn:flowNodeRef>",
         "<bpmn:flowNodeRef>registration</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>check_documents</bpmn:flowNodeRef>"),
        (flow.group(0),
         task + '<bpmn:sequenceFlow id="f_registered" sourceRef="registration" targetRef="check_documents" />'),
        ('<bpmndi:BPMNShape id="registration_di"',
         '<bpmndi:BPMNShape id="check_documents_di" bpmnElement="check_documents"><dc:Bounds x="250" y="320" '
         'width="110" height="80" /></bpmndi:BPMNShape>\n      <bpmndi:BPMNShape id="registration_di"'),
    ]
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def insert_task(office, draft: Draft, *, due: str | None = "add_working_days(received_on, 3)") -> Draft:
    draft.refresh_from_db()
    services.draft_file_save(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk,
                             path="forms/check_documents.schema.json", content=NEW_FORM)
    return services.draft_file_save(tenant=office["tenant"], actor=office["admin"], draft_id=draft.pk, path=MAIN,
                                    content=inserted_task_bpmn(draft.files[MAIN], due=due))


def scenarios_with_checked_documents(text: str) -> str:
    """The residence change's tests.yaml adapted to the variant with `check_documents` (what the
    admin edits in the browser test): wherever a scenario completes the registration, the registrar
    then completes the new check."""
    import yaml

    raw = yaml.safe_load(text)
    for scenario in raw["scenarios"]:
        steps = scenario.get("steps") or []
        adapted = []
        for step in steps:
            adapted.append(step)
            if isinstance(step, dict) and step.get("complete") == "registration" and "refused" not in step:
                adapted.append({"complete": "check_documents", "data": {"documents_ok": True}})
        scenario["steps"] = adapted
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, width=120)
