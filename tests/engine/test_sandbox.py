"""BPMN expressions run in a sandbox: data and helpers only, no way out."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bundles import Bundle, BundleError, validate_bundle
from engine.models import ProcessVersion
from engine.registry import process_version_publish
from engine.sandbox import RestrictedEnvironment, SandboxLimitExceeded, SandboxViolation, check_expression
from engine.script_helpers import build_helpers
from tests.engine_models import inline_bundle

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


# --------------------------------------------------------------------------- the attacks of issue 17

PWNED = "/tmp/procedo-sandbox-pwned"

# Each was (or is, in plain Python) a way out of a name-blacklist sandbox. All must be refused
# when the source is checked, before anything runs.
ESCAPES = [
    # the three reproduced against the blacklist sandbox
    "(x for x in [1]).gi_frame.f_back.f_builtins['__import__']('os').system('touch " + PWNED + "')",
    "'{0.__globals__}'.format(add_days)",
    "while True:\n    pass",
    # subclasses walk and friends
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__",
    "x = [c for c in ().__class__.__base__.__subclasses__()]",
    "().__class__.mro()",
    "add_days.__globals__['__builtins__']['__import__']('os')",
    "add_days.func_globals",
    "'{x.__globals__}'.format_map({'x': add_days})",
    "import string\nstring.Formatter().format('{0.__globals__}', add_days)",
    # f-strings: attribute access, conversion, nested format spec
    "f'{add_days.__globals__}'",
    "f'{add_days!r}'",
    "f'{1:{chr(62)}{10**8}}'",
    # functions and their defaults, decorators, getattr-likes
    "(lambda f=add_days: f)()",
    "@eval\ndef f():\n    pass",
    "import operator\noperator.attrgetter('__globals__')(add_days)",
    "getattr(add_days, '__globals__')",
    "type('X', (), {})",
    "x = []\ny = x.__reduce_ex__(2)",
    "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame.f_back.f_globals",
    # the builtins one reaches for
    "vars()",
    "dir()",
    "globals()['__builtins__']",
    "breakpoint()",
    "__import__('os').system('touch " + PWNED + "')",
    "__builtins__['open']('/etc/passwd')",
    "exec('x = 1')",
    "eval('1')",
    "compile('1', 'x', 'eval')",
    "open('/etc/passwd').read()",
    # unicode identifiers are NFKC-normalised by the parser: still 'eval' and 'open'
    "ｅｖａｌ('1')",
    "ｏｐｅｎ('/etc/passwd')",
    # statements outside the language
    "class A:\n    pass",
    "async def f():\n    pass",
    "def f():\n    yield 1",
    "global x",
    "with x:\n    pass",
    "x = (y := 1)",
    "match x:\n    case 1:\n        pass",
    "raise SystemExit",
    "assert False",
    "x = [*data]",
    "x = len(*data)",
    "x = 1 << 100000000",
    # very deep nesting and huge sources
    "x = " + "-" * 200 + "1",
    "x = " + "-" * 100_000 + "1",
    "x = " + "[" * 90 + "]" * 90,
    "x = " + "1 + " * 20_000 + "1",
]


@pytest.mark.parametrize("source", ESCAPES, ids=range(len(ESCAPES)))
def test_known_python_sandbox_escapes_are_refused_at_check_time_and_at_run_time(source):
    with pytest.raises(SandboxViolation):
        check_expression(source, "exec")
    context = {"x": 1, "data": [1, 2]}
    with pytest.raises(SandboxViolation):
        ENV.execute(source, context)
    assert context == {"x": 1, "data": [1, 2]}  # nothing ran
    assert not os.path.exists(PWNED)


def test_the_reproduced_escapes_are_refused_with_a_message_naming_the_construct():
    with pytest.raises(SandboxViolation, match=r"attribute access '\.f_builtins' is not allowed"):
        ENV.evaluate("(x for x in [1]).gi_frame.f_back.f_builtins", {})
    with pytest.raises(SandboxViolation, match=r"attribute access '\.format' is not allowed"):
        ENV.evaluate('"{0.__globals__}".format(add_days)', {})
    with pytest.raises(SandboxViolation, match="while is not allowed"):
        ENV.execute("while True:\n    pass", {})


def test_functions_are_never_values():
    # A helper can be called, never read: no way to reach its __globals__ or pass it around.
    with pytest.raises(NameError):
        ENV.evaluate("add_days", {})
    with pytest.raises(NameError):
        ENV.evaluate("sorted(items, key=len)", {"items": ["bb", "a"]})


def test_a_data_variable_named_like_a_function_stays_data():
    assert ENV.evaluate("len(len)", {"len": [1, 2, 3]}) == 3


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    "source",
    [
        "n = 0\nfor i in range(1000):\n    for j in range(1000):\n        n += 1",
        "x = [[i * j for i in range(1000)] for j in range(1000)]",
        "x = sum(len(str(i)) for i in range(200000) for j in range(10))",
        "s = 'x' * 50000\nfor i in range(100000):\n    t = s == s + ''",
        "a = [1] * 1000\nfor i in range(100000):\n    b = sorted(a)",
        "for i in range(100000):\n    d = add_working_days('2026-01-01', 9999)",
        "for i in range(100000):\n    d = working_days_between('1950-01-01', '2049-12-31')",
        "for i in range(100000):\n    v = is_valid_fiscal_code('RSSMRA80A41H501U')",
        "s = 'ab' * 50000\nt = 'ab' * 20000 + 'c'\nfor i in range(100000):\n    r = t in s",
    ],
)
def test_loops_that_would_run_for_long_stop_on_the_step_budget(source):
    context = {"before": True}
    started = time.monotonic()
    with pytest.raises(SandboxLimitExceeded, match="steps of work"):
        ENV.execute(source, context)
    assert time.monotonic() - started < 3
    assert context == {"before": True}  # all or nothing: the partial work is not kept


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 'x' * 10**10", "larger than|longer than"),
        ("x = [0] * 10**9", "larger than"),
        ("x = 10**10**10", "bits"),
        ("x = 2 ** 100000", "bits"),
        ("x = 'x' * 60000 + 'x' * 60000", "longer than"),
        ("a = [1, 2]\nfor i in range(40):\n    a = [a, a]\ns = str(a)", "larger than"),
        ("a = {}\nfor i in range(40):\n    a = {'l': a, 'r': a}", "larger than"),
        ("x = list(range(10**12))", "range"),
        ("x = join('', ['x' * 1000] * 200)", "longer than"),
        ("x = f'{1:>999}' * 1000", "longer than"),
        ("a = []\nfor i in range(30000):\n    a = [a]", "nested deeper"),
        ("d = {}\nd['me'] = d", "contain itself"),
        ("x = [1]\ny = {'a': x}\nx[0] = y", "contain itself"),
    ],
)
def test_memory_bombs_are_refused_with_a_clear_error(source, message):
    context: dict = {}
    started = time.monotonic()
    with pytest.raises(SandboxLimitExceeded, match=message):
        ENV.execute(source, context)
    assert time.monotonic() - started < 3
    assert context == {}


@pytest.mark.parametrize(
    "source",
    ["round(1, -10**9)", "add_working_days(today(), 10**9)", "working_days_between('0001-01-01', '9999-12-31')",
     "'%s' % 1", "int('9' * 5000)"],
)
def test_helpers_refuse_arguments_that_would_take_forever(source):
    started = time.monotonic()
    with pytest.raises((ValueError, TypeError)):
        ENV.evaluate(source, {})
    assert time.monotonic() - started < 1


# --------------------------------------------------------------------------- the language models use


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('{"accepted": "3", "rejected": "4"}[triage["outcome"]]', {"triage": {"outcome": "rejected"}}, "4"),
        ('get(triage, "note", "")', {"triage": {}}, ""),
        ('get(triage, "note", "")', {"triage": {"note": "ok"}}, "ok"),
        ('removeprefix(tenant_name, "Comune di ")', {"tenant_name": "Comune di Lucca"}, "Lucca"),
        ('[{"n": d["name"]} for d in people if d["age"] >= 18]',
         {"people": [{"name": "a", "age": 20}, {"name": "b", "age": 3}]}, [{"n": "a"}]),
        ("any(p > 10 for p in prices) and not all(p > 10 for p in prices)", {"prices": [5, 20]}, True),
        ("f'{total:.2f} euro per {len(people)}'", {"total": 12.5, "people": [1, 2]}, "12.50 euro per 2"),
        ("x if x is not None else 'none'", {"x": None}, "none"),
        ("1 < n <= 3 and n in [2, 3]", {"n": 2}, True),
        ("sorted(keys(d), reverse=True)[0]", {"d": {"a": 1, "b": 2}}, "b"),
        ("{k: v * 2 for k, v in items(d)}", {"d": {"a": 1}}, {"a": 2}),
        ("upper(strip(s))[:3]", {"s": "  roma "}, "ROM"),
        ("round(sum([1.234, 2]), 2)", {}, 3.23),
        ("dmninputexpr > 4", {}, True),
    ],
)
def test_the_expression_language_covers_what_models_need(source, data, expected):
    assert ENV.evaluate(source, data, external_context={"dmninputexpr": 5}) == expected


def test_scripts_assign_names_and_items_with_if_and_for():
    context = {"items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}], "order": {}}
    ENV.execute(
        "total = 0\n"
        "for item in items:\n"
        "    if item['qty'] == 0:\n"
        "        continue\n"
        "    total += item['price'] * item['qty']\n"
        "order['total'] = total\n"
        "if total > 10:\n"
        "    band = 'high'\n"
        "elif total > 5:\n"
        "    band = 'mid'\n"
        "else:\n"
        "    band = 'low'\n"
        "a, b = 1, 2\n"
        "del items\n",
        context,
    )
    # As in Python, the loop variable keeps its last value.
    assert context == {"order": {"total": 11}, "total": 11, "band": "high", "a": 1, "b": 2,
                       "item": {"price": 5, "qty": 1}}


def test_a_failing_script_leaves_the_data_as_it_was():
    context = {"order": {"n": 1}, "rows": [1, 2, 0]}
    with pytest.raises(ZeroDivisionError):
        ENV.execute("order['n'] = 2\nlast = 0\nfor r in rows:\n    last = 10 / r", context)
    assert context == {"order": {"n": 1}, "rows": [1, 2, 0]}


# --------------------------------------------------------------------------- bundles and cases

BAD = "(x for x in [1]).gi_frame.f_back.f_builtins"
MODELS = Path(__file__).parent / "models"


def _model_bundle(name: str, old: str, new: str, *, in_file: str | None = None) -> Bundle:
    files: dict[str, str] = {"manifest.yaml": f"name: {name}\ncategory: test\n"}
    files[f"{name}.bpmn"] = (MODELS / f"{name}.bpmn").read_text()
    for form in MODELS.glob(f"{name}.*.json"):
        files[f"forms/{form.name}"] = form.read_text()
    for dmn in MODELS.glob("*.dmn"):
        files[dmn.name] = dmn.read_text()
    target = in_file or f"{name}.bpmn"
    assert old in files[target], (target, old)
    files[target] = files[target].replace(old, new, 1)
    del files["manifest.yaml"]
    return inline_bundle(name, name, files)  # with the access rules every manifest must declare


BAD_XML = BAD.replace("<", "&lt;").replace(">", "&gt;")
CORRELATION = (
    '<bpmn:correlationProperty id="cp_key" name="key"><bpmn:correlationPropertyRetrievalExpression '
    f'messageRef="msg_payment"><bpmn:formalExpression>{BAD_XML}</bpmn:formalExpression>'
    '</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>\n  <bpmn:collaboration'
)


@pytest.mark.parametrize(
    ("name", "old", "new", "in_file", "where"),
    [
        ("lanes_script", 'total = enter["a"] + enter["b"]', BAD_XML, None, "lanes_script/lanes_script.bpmn: script task 'sum' script"),
        ("lanes_script", 'total = enter["a"] + enter["b"]', "while True:\n    pass", None, "script task 'sum' script: espressione non ammessa: while"),
        ("gateways", "start_value &gt; 10", BAD_XML, None, "gateways/gateways.bpmn: gateway 'gw' condizione verso 'big'"),
        ("timer_boundary", '"P5D"', BAD_XML, None, "timer_boundary/timer_boundary.bpmn: elemento 'deadline' evento"),
        ("service_outbox", 'value="start_value"', f'value="{BAD_XML}"', None, "service task 'call_it' parametro 'value'"),
        ("multi_instance", '<bpmn:outputDataItem id="review" name="review" />',
         f'<bpmn:outputDataItem id="review" name="review" /><bpmn:completionCondition>{BAD_XML}</bpmn:completionCondition>',
         None, "multi_instance/multi_instance.bpmn: elemento 'review_member' condition"),
        ("lanes_script", '<spiffworkflow:properties>',
         f'<spiffworkflow:preScript>{BAD_XML}</spiffworkflow:preScript><spiffworkflow:properties>', None, "preScript"),
        ("message_catch", "<bpmn:collaboration", CORRELATION, None, "elemento 'payment' correlazione 'cp_key'"),
        ("dmn_fee", '"certificate"', BAD_XML, "fee.dmn", "business rule task 'decide_fee' DMN 'fee_table' riga 2"),
        ("dmn_fee", "16.0", "__import__('os')", "fee.dmn", "business rule task 'decide_fee' DMN 'fee_table' riga 1"),
        ("dmn_fee", "<text>kind</text>", "<text>kind.__class__</text>", "fee.dmn", "DMN 'fee_table' input"),
    ],
)
@pytest.mark.django_db
def test_sync_refuses_a_bundle_with_a_bad_construct_naming_file_and_element(name, old, new, in_file, where):
    bundle = _model_bundle(name, old, new, in_file=in_file)
    problems = validate_bundle(bundle)
    assert any(where in p and "espressione non ammessa" in p for p in problems), problems
    with pytest.raises(BundleError):
        process_version_publish(bundle=bundle)
    assert not ProcessVersion.objects.filter(definition__process_id=name).exists()


def test_every_shipped_and_test_model_passes_the_allow_list():
    from engine.registry import validate_all

    assert validate_all(Path(__file__).resolve().parents[2] / "processes") == {
        "anpr_citizen_request": [], "anpr_data_correction": [], "cremation_authorisation": [], "malfunction_ticket": [],
        "marriage_banns": [], "residence_change": []}
    for name in ("lanes_script", "gateways", "timer_boundary", "message_catch", "multi_instance", "dmn_fee"):
        assert validate_bundle(_model_bundle(name, "", "")) == [], name


LOOPING = "n = 0\nfor i in range(2000):\n    for j in range(2000):\n        n += 1"


@pytest.mark.django_db
def test_a_case_whose_first_script_runs_away_starts_promptly_with_an_incident():
    from accounts.roles import Role
    from cases.models import Case
    from engine.bundles import read_bundle
    from engine.models import Incident
    from tests.engine_models import BUNDLES_DIR
    from tests.factories import api_client, make_tenant, make_user

    bundle = read_bundle(BUNDLES_DIR / "broken_script")
    bundle.files["broken_script.bpmn"] = bundle.files["broken_script.bpmn"].replace(
        "ratio = numerator / denominator", LOOPING)
    process_version_publish(bundle=bundle)  # valid: only running it can tell it loops
    tenant = make_tenant()
    client = api_client(make_user(tenant, Role.REGISTRAR), tenant)

    started = time.monotonic()
    response = client.post("/api/v1/cases/", {"process": "broken_script", "data": {}}, format="json")
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.content
    assert elapsed < 5
    case = Case.objects.get(pk=response.json()["id"])
    incident = Incident.objects.get(instance=case.instance)
    assert "steps of work" in incident.message and "Calcolo" in incident.message
    detail = client.get(f"/api/v1/cases/{case.pk}/").json()
    assert detail["has_open_incident"] is True
    assert "n" not in detail["data"]  # the runaway script changed nothing


@pytest.mark.django_db
def test_a_case_whose_script_is_refused_at_run_time_gets_an_incident_and_no_effect():
    """A version stored before the allow-list (not re-validated) still cannot escape at run time."""
    from accounts.roles import Role
    from cases.services import case_start
    from engine.bundles import read_bundle
    from engine.models import Incident, ProcessDefinition
    from tests.engine_models import BUNDLES_DIR
    from tests.factories import make_tenant, make_user

    bundle = read_bundle(BUNDLES_DIR / "broken_script")
    files = dict(bundle.files)
    files["broken_script.bpmn"] = files["broken_script.bpmn"].replace(
        "ratio = numerator / denominator", f"ratio = 1\npwned = {BAD_XML}")
    definition = ProcessDefinition.objects.create(process_id="broken_script", name="x")
    ProcessVersion.objects.create(definition=definition, version=1, content_hash="legacy", files=files,
                                  manifest=bundle.manifest)
    tenant = make_tenant()
    case = case_start(tenant=tenant, user=make_user(tenant, Role.REGISTRAR), process_id="broken_script", data={})
    incident = Incident.objects.get(instance=case.instance)
    assert "attribute access '.f_builtins' is not allowed" in incident.message
    assert "ratio" not in case.data and "pwned" not in case.data


@pytest.mark.django_db
def test_sync_processes_refuses_a_folder_with_the_str_format_escape(tmp_path, capsys):
    import shutil

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.engine_models import BUNDLES_DIR

    folder = tmp_path / "broken_script"
    shutil.copytree(BUNDLES_DIR / "broken_script", folder)
    model = folder / "broken_script.bpmn"
    model.write_text(model.read_text().replace(
        "ratio = numerator / denominator", "leak = \"{0.__globals__}\".format(add_days)"))
    with pytest.raises(CommandError):
        call_command("sync_processes", dir=str(tmp_path))
    assert "broken_script/broken_script.bpmn: script task 'compute' script: espressione non ammessa: " \
           "attribute access '.format' is not allowed" in capsys.readouterr().err
    assert not ProcessVersion.objects.filter(definition__process_id="broken_script").exists()
