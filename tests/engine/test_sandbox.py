"""BPMN expressions run in a sandbox: data and helpers only, no way out."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.sandbox import RestrictedEnvironment, SandboxViolation, check_expression
from engine.script_helpers import build_helpers

ENV = RestrictedEnvironment(build_helpers(patron_day=None))


def test_expressions_see_data_and_helpers():
    assert ENV.evaluate('add_working_days(received_on, 2)', {"received_on": "2026-03-06"}) == "2026-03-10"
    assert ENV.evaluate('len(people) > 1 and sorted(people)[0] == "a"', {"people": ["b", "a"]}) is True


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "__import__('os')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd')",
        "getattr(x, 'y')",
        "eval('1')",
        "x.__dict__",
        "type(x)",
        "globals()",
    ],
)
def test_forbidden_constructs_are_refused(source):
    with pytest.raises(SandboxViolation):
        check_expression(source, "exec")
    with pytest.raises(SandboxViolation):
        ENV.execute(source, {"x": 1})


def test_builtins_outside_the_safe_list_are_not_there():
    # Refused when the source is checked (it used to be a NameError at run time).
    with pytest.raises(SandboxViolation, match="calling 'print' is not allowed"):
        ENV.evaluate("print('x')", {})


def test_a_script_leaves_only_data_behind():
    context = {"a": 2}
    ENV.execute("b = a * 3\nc = add_days('2026-01-30', 2)", context)
    assert context == {"a": 2, "b": 6, "c": "2026-02-01"}


def test_it_runs_inside_spiffworkflow():
    bpmn = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="g" default="f3"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="late"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>result = "late"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="ok"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing><bpmn:script>result = "ok"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e1"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" />
    <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="late">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">add_working_days(received_on, 2) &lt; answered_on</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="ok" />
    <bpmn:sequenceFlow id="f4" sourceRef="late" targetRef="e1" />
    <bpmn:sequenceFlow id="f5" sourceRef="ok" targetRef="e2" />
  </bpmn:process>
</bpmn:definitions>"""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(bpmn.encode())
    for answered, expected in (("2026-03-11", "late"), ("2026-03-09", "ok")):
        wf = BpmnWorkflow(parser.get_spec("p"), script_engine=PythonScriptEngine(environment=ENV))
        wf.get_next_task(state=TaskState.READY).data.update(received_on="2026-03-05", answered_on=answered)
        wf.do_engine_steps()
        assert wf.is_completed() and wf.last_task.data["result"] == expected
