"""Every operation a BPMN service task may call declares the parameters it reads (common.operations),
and every shipped process model binds each required parameter of every operation it calls.

The studio's palette offers the declared parameters and its validation refuses a model that leaves a
required one unbound, so a declaration that drifts from the code misleads the process admins: the
code of each operation is read here and every parameter it reads by name must be declared."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from common.operations import OperationParam, all_operations, get_operation, operation

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
# The engine binds `data` of documents.render_and_sign from the manifest's deed mapping (engine.manifest).
INJECTED = {"documents.render_and_sign": {"data"}}


def _shipped_operations() -> list[str]:
    return sorted(op.name for op in all_operations() if not op.name.startswith("test.") and "test_" not in op.name)


def test_the_decorator_demands_the_parameters():
    with pytest.raises(TypeError):
        operation("demo.undeclared", description="no params")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="distinct identifiers"):
        operation("demo.twice", description="twice", params=("a", OperationParam("a", required=True)))
    with pytest.raises(ValueError, match="distinct identifiers"):
        operation("demo.odd", description="odd", params=("not a name",))
    assert get_operation("demo.undeclared") is None and get_operation("demo.twice") is None


def test_every_registered_operation_declares_its_parameters():
    operations = all_operations()
    assert len(_shipped_operations()) >= 25, [op.name for op in operations]
    for op in operations:
        assert isinstance(op.params, tuple) and all(isinstance(p, OperationParam) for p in op.params), op.name
    # An operation that needs nothing says so; the palette lists the rest with their required ones.
    assert get_operation("support.sla_terms").params == ()
    protocol = {p.name: p.required for p in get_operation("protocol.register").params}
    assert protocol["direction"] and protocol["subject"] and not protocol["classification"]


def _module_functions(fn) -> tuple[dict[str, ast.FunctionDef], ast.FunctionDef]:
    module = inspect.getmodule(fn)
    tree = ast.parse(inspect.getsource(module))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    own = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    return functions, own


def _read_names(node: ast.FunctionDef, functions: dict[str, ast.FunctionDef], seen: set[str]) -> set[str]:
    """Keys read from `params` in the function (params.get("x"), params["x"], "x" in params), following
    the module's own helpers that are handed `params`."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "get" \
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "params" \
                and sub.args and isinstance(sub.args[0], ast.Constant):
            names.add(sub.args[0].value)
        elif isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id == "params" \
                and isinstance(sub.slice, ast.Constant):
            names.add(sub.slice.value)
        elif isinstance(sub, ast.Compare) and isinstance(sub.left, ast.Constant) \
                and any(isinstance(c, ast.Name) and c.id == "params" for c in sub.comparators):
            names.add(sub.left.value)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in functions \
                and sub.func.id not in seen \
                and any(isinstance(a, ast.Name) and a.id == "params" for a in sub.args):
            seen.add(sub.func.id)
            names |= _read_names(functions[sub.func.id], functions, seen)
    return {n for n in names if isinstance(n, str)}


@pytest.mark.parametrize("name", _shipped_operations())
def test_what_the_code_reads_is_declared(name):
    op = get_operation(name)
    fn = inspect.unwrap(op.fn)
    functions, own = _module_functions(fn)
    read = _read_names(own, functions, {own.name})
    declared = {p.name for p in op.params}
    # Parameters the operation computes for itself before reading them are not the model's to bind.
    read -= {"fallback_province"}
    assert read <= declared, f"{name} reads {sorted(read - declared)} without declaring them"


def _bindings() -> list[tuple[str, str, str, set[str]]]:
    found = []
    for model in sorted(PROCESSES.glob("*/*.bpmn")):
        tree = etree.parse(str(model), parser=etree.XMLParser(resolve_entities=False, no_network=True))
        for operator in tree.iter(f"{SPIFF}serviceTaskOperator"):
            task = operator.getparent().getparent()
            bound = {p.get("id") for p in operator.iter(f"{SPIFF}parameter") if (p.get("value") or "").strip()}
            found.append((model.parent.name, task.get("id"), operator.get("id"), bound))
    return found


def test_every_shipped_model_binds_the_required_parameters():
    bindings = _bindings()
    assert len(bindings) >= 30 and {pid for pid, *_ in bindings} >= {"residence_change", "marriage_banns",
                                                                      "cremation_authorisation"}
    missing, unknown = [], []
    for process_id, task_id, name, bound in bindings:
        op = get_operation(name)
        assert op is not None, f"{process_id}/{task_id} calls the unknown operation {name}"
        bound |= INJECTED.get(name, set())
        missing += [(process_id, task_id, name, p.name) for p in op.params if p.required and p.name not in bound]
        unknown += [(process_id, task_id, name, b) for b in sorted(bound - {p.name for p in op.params})]
    assert missing == [], missing
    assert unknown == [], unknown
