"""Restricted environment for BPMN expressions and scripts: no imports, no dunder access."""

from __future__ import annotations

import ast
import builtins
from functools import lru_cache
from typing import Any, Literal

from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

MAX_SOURCE = 20_000
FORBIDDEN_CALLS = frozenset({
    "exec", "eval", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "__import__", "input", "breakpoint", "help", "exit", "quit", "memoryview", "type", "object",
    "super", "classmethod", "staticmethod", "property", "dir", "id",
})
SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "len", "min", "max", "sum", "any", "all", "sorted", "str", "int", "float", "bool", "list", "dict",
        "set", "tuple", "range", "enumerate", "zip", "round", "abs", "isinstance", "reversed", "map", "filter",
        "ValueError", "KeyError", "TypeError", "Exception",
    )
}
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})


class SandboxViolation(ValueError):
    pass


@lru_cache(maxsize=4096)
def check_expression(source: str, mode: Literal["eval", "exec"] = "eval") -> None:
    if len(source) > MAX_SOURCE:
        raise SandboxViolation(f"source longer than {MAX_SOURCE} characters")
    tree = ast.parse(source, mode=mode)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise SandboxViolation(f"import is not allowed (line {line})")
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.ClassDef, ast.AsyncFunctionDef, ast.Await,
                             ast.Yield, ast.YieldFrom, ast.AsyncFor, ast.AsyncWith)):
            raise SandboxViolation(f"{type(node).__name__} is not allowed (line {line})")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise SandboxViolation(f"attribute '{node.attr}' is not allowed (line {line})")
        if isinstance(node, ast.Name) and (node.id.startswith("_") or node.id in FORBIDDEN_CALLS):
            raise SandboxViolation(f"name '{node.id}' is not allowed (line {line})")


class RestrictedEnvironment(TaskDataEnvironment):
    def __init__(self, helpers: dict[str, Any] | None = None) -> None:
        super().__init__({"__builtins__": SAFE_BUILTINS, **(helpers or {})})

    def evaluate(self, expression, context, external_context=None):
        check_expression(expression, "eval")
        return super().evaluate(expression, context, external_context)

    def execute(self, script, context, external_context=None):
        check_expression(script, "exec")
        return super().execute(script, context, external_context)
