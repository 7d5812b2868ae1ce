"""Allow-list interpreter for BPMN expressions and scripts.

Source is never handed to Python's eval/exec. It is parsed with `ast`, every node must be
of a kind listed here, and the accepted tree is compiled into plain closures that compute
the value themselves. The language is data-only:

- literals (str, int, float, bool, None), list/tuple/dict/set displays, f-strings;
- names of task-data variables; subscripts and slices of dicts, lists, tuples, strings;
- arithmetic, comparisons, `and`/`or`/`not`, `x if c else y`, bounded comprehensions;
- calls, by name only, to the helper functions and to SAFE_FUNCTIONS (wrappers that check
  their arguments); a function is never a value, so nothing can be called that is not listed;
- in scripts: `name = expr`, `x[key] = expr`, `+=` and friends, `del`, `if/elif/else`,
  `for` over a list (with `break`/`continue`), `pass`.

There is no attribute access at all (no `.`), hence no dunder, frame, generator or
`str.format` path; no def/lambda/class/import/while/try/with/global/yield.

Every run has a budget: steps (node evaluations, loop iterations and the work of builtins on
large values) and sizes (string length, integer bits, deep size of containers, with aliasing
counted), so loops and memory bombs stop with SandboxLimitExceeded instead of hanging a request.
A script runs on a copy of the task data and is committed only when it finishes: a script that
fails leaves the data as it was.
"""

from __future__ import annotations

import ast
import copy
import itertools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .script_helpers import HELPER_NAMES

MAX_SOURCE = 20_000  # characters of one expression or script
MAX_NODES = 5_000  # AST nodes of one expression or script
MAX_DEPTH = 48  # nesting of the AST
MAX_STEPS = 200_000  # work units of one evaluation (about 0.1-0.3 s of CPU at worst)
MAX_STRING = 100_000  # characters of one string the sandbox builds
MAX_INT_BITS = 4_096  # bits of one integer the sandbox builds
MAX_SIZE = 250_000  # deep size of one value the sandbox builds (1 per item, strings 1 + len/8)
MAX_VALUE_DEPTH = 100  # nesting of one value (the API already refuses JSON deeper than 64)


class SandboxError(ValueError):
    """Base of every refusal of the sandbox."""


class SandboxViolation(SandboxError):
    """The source uses a construct that is not in the allow-list."""


class SandboxLimitExceeded(SandboxError):
    """A run went over its step or size budget."""


Mode = Literal["eval", "exec"]
_MISSING = object()
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_SEQUENCES = (list, tuple, str)


# --------------------------------------------------------------------------- run state


class _Run:
    """One evaluation: the namespaces, the functions, the budget and the size memo."""

    __slots__ = ("data", "external", "functions", "scopes", "steps", "sizes")

    def __init__(self, data: dict, external: Mapping | None, functions: Mapping[str, Callable]) -> None:
        self.data = data
        self.external = external or {}
        self.functions = functions
        self.scopes: list[dict] = []
        self.steps = 0
        # id -> (value, deep size, depth). The value is kept so that its id cannot be reused while
        # the run lasts; the memo is cleared whenever a container is changed in place.
        self.sizes: dict[int, tuple[Any, int, int]] = {}

    def charge(self, units: int) -> None:
        self.steps += units
        if self.steps > MAX_STEPS:
            raise SandboxLimitExceeded(f"the expression or script did more than {MAX_STEPS} steps of work")

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            value = self.external.get(name, _MISSING)
            if value is _MISSING:
                raise NameError(f"name '{name}' is not defined")
        return value

    def size(self, value: Any) -> int:
        kind = type(value)
        if kind is str:
            return 1 + len(value) // 8
        if kind not in _CONTAINERS:
            return 1
        entry = self.sizes.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        return self._measure(value, set(), 1)[0]

    def _measure(self, value: Any, path: set[int], level: int) -> tuple[int, int]:
        """(deep size, depth) of a container, memoised; refuses cycles, huge and deep values."""
        if level > MAX_VALUE_DEPTH:
            raise SandboxLimitExceeded(f"a value is nested deeper than {MAX_VALUE_DEPTH} levels")
        if id(value) in path:
            raise SandboxLimitExceeded("a value contains itself")
        path.add(id(value))
        parts = itertools.chain(value, value.values()) if type(value) is dict else value
        self.charge(1 + len(value) // 4)
        total, depth = 1, 0
        for part in parts:
            kind = type(part)
            if kind in _CONTAINERS:
                entry = self.sizes.get(id(part))
                if entry is not None and entry[0] is part:
                    size, inner = entry[1], entry[2]
                else:
                    size, inner = self._measure(part, path, level + 1)
                total += size
                depth = max(depth, inner)
                if level + depth > MAX_VALUE_DEPTH:
                    raise SandboxLimitExceeded(f"a value is nested deeper than {MAX_VALUE_DEPTH} levels")
            else:
                total += 1 + len(part) // 8 if kind is str else 1
            if total > MAX_SIZE:
                raise SandboxLimitExceeded(f"a value is larger than {MAX_SIZE} units")
        path.discard(id(value))
        self.sizes[id(value)] = (value, total, depth + 1)
        return total, depth + 1

    def admit(self, value: Any) -> Any:
        """Check a value the sandbox just built against the size limits."""
        kind = type(value)
        if kind is int:
            if value.bit_length() > MAX_INT_BITS:
                raise SandboxLimitExceeded(f"an integer is larger than {MAX_INT_BITS} bits")
        elif kind is str:
            if len(value) > MAX_STRING:
                raise SandboxLimitExceeded(f"a string is longer than {MAX_STRING} characters")
            self.charge(len(value) // 64)
        elif kind in _CONTAINERS:
            self.size(value)
        return value

    def changed(self) -> None:
        self.sizes.clear()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# --------------------------------------------------------------------------- safe functions

Fn = Callable[..., Any]


def _iterable(value: Any, what: str) -> list:
    if type(value) is dict:
        return list(value)
    if type(value) in (list, tuple, str, set, frozenset):
        return list(value)
    raise TypeError(f"{what} needs a list, tuple, string, set or dict, not {type(value).__name__}")


def _number(value: Any, what: str) -> int | float:
    if type(value) not in (int, float, bool):
        raise TypeError(f"{what} needs numbers, not {type(value).__name__}")
    return value


def _fn_len(value: Any) -> int:
    if type(value) not in (list, tuple, str, dict, set, frozenset):
        raise TypeError(f"len() of {type(value).__name__}")
    return len(value)


def _fn_min(*args: Any) -> Any:
    items = _iterable(args[0], "min()") if len(args) == 1 else list(args)
    return min(items)


def _fn_max(*args: Any) -> Any:
    items = _iterable(args[0], "max()") if len(args) == 1 else list(args)
    return max(items)


def _fn_sum(values: Any, start: Any = 0) -> int | float:
    total = _number(start, "sum()")
    for item in _iterable(values, "sum()"):
        total += _number(item, "sum()")
    return total


def _fn_any(values: Any) -> bool:
    return any(_iterable(values, "any()"))


def _fn_all(values: Any) -> bool:
    return all(_iterable(values, "all()"))


def _fn_sorted(values: Any, reverse: bool = False) -> list:
    return sorted(_iterable(values, "sorted()"), reverse=bool(reverse))


def _fn_str(value: Any = "") -> str:
    return value if type(value) is str else str(value)


def _fn_int(value: Any = 0, base: int | None = None) -> int:
    if base is None:
        return int(value)
    if type(value) is not str or type(base) is not int:
        raise TypeError("int() with a base needs a string and an integer base")
    return int(value, base)


def _fn_float(value: Any = 0.0) -> float:
    return float(value)


def _fn_bool(value: Any = False) -> bool:
    return bool(value)


def _fn_abs(value: Any) -> int | float:
    return abs(_number(value, "abs()"))


def _fn_round(value: Any, ndigits: int | None = None) -> int | float:
    _number(value, "round()")
    if ndigits is None:
        return round(value)
    if type(ndigits) is not int or not -30 <= ndigits <= 30:
        raise ValueError("round() takes between -30 and 30 digits")
    return round(value, ndigits)


def _fn_list(values: Any = ()) -> list:
    return _iterable(values, "list()")


def _fn_tuple(values: Any = ()) -> tuple:
    return tuple(_iterable(values, "tuple()"))


def _fn_set(values: Any = ()) -> set:
    return set(_iterable(values, "set()"))


def _fn_dict(values: Any = (), **named: Any) -> dict:
    if type(values) is dict:
        result = dict(values)
    else:
        result = {}
        for pair in _iterable(values, "dict()"):
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise TypeError("dict() needs pairs of key and value")
            result[pair[0]] = pair[1]
    result.update(named)
    return result


def _fn_range(*args: Any) -> list:
    if not 1 <= len(args) <= 3 or any(type(a) is not int for a in args):
        raise TypeError("range() takes one to three integers")
    values = range(*args)
    if len(values) > MAX_SIZE:
        raise SandboxLimitExceeded(f"range() of more than {MAX_SIZE} numbers")
    return list(values)


def _fn_enumerate(values: Any, start: int = 0) -> list:
    if type(start) is not int:
        raise TypeError("enumerate() start must be an integer")
    return [(start + i, v) for i, v in enumerate(_iterable(values, "enumerate()"))]


def _fn_zip(*values: Any) -> list:
    return list(zip(*(_iterable(v, "zip()") for v in values), strict=False))


def _fn_reversed(values: Any) -> list:
    return list(reversed(_iterable(values, "reversed()")))


def _fn_get(container: Any, key: Any, default: Any = None) -> Any:
    """get(x, key, default): x[key] when it is there, else default (dicts, lists, strings)."""
    if type(container) is dict:
        return container.get(key, default)
    if type(container) in _SEQUENCES and type(key) is int:
        return container[key] if -len(container) <= key < len(container) else default
    if container is None:
        return default
    raise TypeError(f"get() needs a dict, list or string, not {type(container).__name__}")


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise TypeError(f"{what} needs a string, not {type(value).__name__}")
    return value


def _fn_upper(text: Any) -> str:
    return _text(text, "upper()").upper()


def _fn_lower(text: Any) -> str:
    return _text(text, "lower()").lower()


def _fn_strip(text: Any) -> str:
    return _text(text, "strip()").strip()


def _fn_split(text: Any, sep: Any = None) -> list:
    if sep is not None:
        _text(sep, "split()")
    return _text(text, "split()").split(sep)


def _fn_join(sep: Any, values: Any) -> str:
    items = [_text(v, "join()") for v in _iterable(values, "join()")]
    if sum(len(i) for i in items) + len(_text(sep, "join()")) * len(items) > MAX_STRING:
        raise SandboxLimitExceeded(f"a string is longer than {MAX_STRING} characters")
    return sep.join(items)


def _fn_startswith(text: Any, prefix: Any) -> bool:
    return _text(text, "startswith()").startswith(_text(prefix, "startswith()"))


def _fn_endswith(text: Any, suffix: Any) -> bool:
    return _text(text, "endswith()").endswith(_text(suffix, "endswith()"))


def _fn_removeprefix(text: Any, prefix: Any) -> str:
    return _text(text, "removeprefix()").removeprefix(_text(prefix, "removeprefix()"))


def _fn_removesuffix(text: Any, suffix: Any) -> str:
    return _text(text, "removesuffix()").removesuffix(_text(suffix, "removesuffix()"))


def _fn_keys(mapping: Any) -> list:
    if type(mapping) is not dict:
        raise TypeError("keys() needs a dict")
    return list(mapping)


def _fn_values(mapping: Any) -> list:
    if type(mapping) is not dict:
        raise TypeError("values() needs a dict")
    return list(mapping.values())


def _fn_items(mapping: Any) -> list:
    if type(mapping) is not dict:
        raise TypeError("items() needs a dict")
    return list(mapping.items())


SAFE_FUNCTIONS: dict[str, Fn] = {
    "len": _fn_len, "min": _fn_min, "max": _fn_max, "sum": _fn_sum, "any": _fn_any, "all": _fn_all,
    "sorted": _fn_sorted, "str": _fn_str, "int": _fn_int, "float": _fn_float, "bool": _fn_bool,
    "abs": _fn_abs, "round": _fn_round, "list": _fn_list, "tuple": _fn_tuple, "set": _fn_set,
    "dict": _fn_dict, "range": _fn_range, "enumerate": _fn_enumerate, "zip": _fn_zip,
    "reversed": _fn_reversed, "get": _fn_get, "upper": _fn_upper, "lower": _fn_lower, "strip": _fn_strip,
    "split": _fn_split, "join": _fn_join, "startswith": _fn_startswith, "endswith": _fn_endswith,
    "removeprefix": _fn_removeprefix, "removesuffix": _fn_removesuffix,
    "keys": _fn_keys, "values": _fn_values, "items": _fn_items,
}
CALLABLE_NAMES = frozenset(SAFE_FUNCTIONS) | HELPER_NAMES
# Functions whose work does not grow with the depth of their arguments: charged by shallow
# length, not deep size, so that get(big_dict, key) stays cheap.
_SHALLOW_FUNCTIONS = frozenset({"get", "len", "bool", "keys", "values", "items", "list", "tuple", "reversed",
                                "enumerate", "zip", "range"})


# --------------------------------------------------------------------------- operators


def _mul(a: Any, b: Any, run: _Run) -> Any:
    seq, times = (a, b) if type(b) in (int, bool) and type(a) in _SEQUENCES else (b, a)
    if type(seq) in _SEQUENCES and type(times) in (int, bool):
        if times > 0 and run.size(seq) * times > MAX_SIZE:
            raise SandboxLimitExceeded(f"repeating a value makes it larger than {MAX_SIZE} units")
        if type(seq) is str and len(seq) * max(times, 0) > MAX_STRING:
            raise SandboxLimitExceeded(f"a string is longer than {MAX_STRING} characters")
    elif type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise SandboxLimitExceeded(f"an integer is larger than {MAX_INT_BITS} bits")
    return a * b


def _pow(a: Any, b: Any, run: _Run) -> Any:
    if type(a) in (int, bool) and type(b) in (int, bool) and b > 0 and abs(a) > 1:
        if a.bit_length() * b > MAX_INT_BITS + 1:
            raise SandboxLimitExceeded(f"an integer is larger than {MAX_INT_BITS} bits")
    return a**b


def _mod(a: Any, b: Any, run: _Run) -> Any:
    if type(a) is str:
        raise TypeError("string formatting with % is not allowed: use + or an f-string")
    return a % b


def _plain(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any, _Run], Any]:
    return lambda a, b, run: op(a, b)


_BINOPS: dict[type, Callable[[Any, Any, _Run], Any]] = {
    ast.Add: _plain(operator.add), ast.Sub: _plain(operator.sub), ast.Mult: _mul,
    ast.Div: _plain(operator.truediv), ast.FloorDiv: _plain(operator.floordiv), ast.Mod: _mod,
    ast.Pow: _pow, ast.BitAnd: _plain(operator.and_), ast.BitOr: _plain(operator.or_),
    ast.BitXor: _plain(operator.xor),
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert,
}
# Format specs for numbers in f-strings: alignment, sign, width and precision, nothing more.
_FORMAT_SPEC = re.compile(r"[<>^=]?[+\- ]?0?\d{0,3}[,_]?(\.\d{1,2})?[dfe%]?")

Eval = Callable[[_Run], Any]
Exec = Callable[[_Run], None]


# --------------------------------------------------------------------------- compiler


def _refuse(node: ast.AST, what: str) -> SandboxViolation:
    return SandboxViolation(f"{what} is not allowed (line {getattr(node, 'lineno', '?')})")


_NODE_NAMES = {
    ast.Attribute: "attribute access ('.')", ast.Lambda: "lambda", ast.NamedExpr: "':=' assignment",
    ast.Starred: "'*' unpacking", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.FunctionDef: "def", ast.AsyncFunctionDef: "def", ast.ClassDef: "class", ast.Import: "import",
    ast.ImportFrom: "import", ast.While: "while", ast.Try: "try", ast.With: "with", ast.Raise: "raise",
    ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Return: "return", ast.Assert: "assert",
    ast.AsyncFor: "async for", ast.AsyncWith: "async with", ast.Match: "match",
}


class _Compiler:
    def __init__(self) -> None:
        self.depth = 0

    # ---- expressions

    def expr(self, node: ast.expr) -> Eval:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SandboxViolation(f"expression nested deeper than {MAX_DEPTH} levels (line {node.lineno})")
        try:
            method = getattr(self, f"e_{type(node).__name__}", None)
            if method is None:
                raise _refuse(node, _NODE_NAMES.get(type(node), type(node).__name__))
            return method(node)
        finally:
            self.depth -= 1

    def e_Attribute(self, node: ast.Attribute) -> Eval:
        hint = f": write {node.attr}(x, ...) instead" if node.attr in SAFE_FUNCTIONS else ""
        raise SandboxViolation(f"attribute access '.{node.attr}' is not allowed (line {node.lineno}){hint}")

    def e_Constant(self, node: ast.Constant) -> Eval:
        value = node.value
        if type(value) not in (str, int, float, bool, type(None)):
            raise _refuse(node, f"constant of type {type(value).__name__}")
        return lambda run: value

    def e_Name(self, node: ast.Name) -> Eval:
        # Only data: functions are called by name (e_Call), never read as values.
        name = self.name(node, node.id)
        return lambda run: run.lookup(name)

    def name(self, node: ast.AST, name: str) -> str:
        if name.startswith("__"):
            raise SandboxViolation(f"name '{name}' is not allowed (line {getattr(node, 'lineno', '?')})")
        return name

    def e_List(self, node: ast.List) -> Eval:
        items = [self.expr(e) for e in node.elts]
        return lambda run: run.admit([item(run) for item in items])

    def e_Tuple(self, node: ast.Tuple) -> Eval:
        items = [self.expr(e) for e in node.elts]
        return lambda run: run.admit(tuple(item(run) for item in items))

    def e_Set(self, node: ast.Set) -> Eval:
        items = [self.expr(e) for e in node.elts]
        return lambda run: run.admit({item(run) for item in items})

    def e_Dict(self, node: ast.Dict) -> Eval:
        pairs = [(None if k is None else self.expr(k), self.expr(v)) for k, v in zip(node.keys, node.values, strict=True)]

        def build(run: _Run) -> dict:
            result: dict = {}
            for key, value in pairs:
                if key is None:  # {**other}
                    other = value(run)
                    if type(other) is not dict:
                        raise TypeError("'**' in a dict needs a dict")
                    result.update(other)
                else:
                    result[key(run)] = value(run)
            return run.admit(result)

        return build

    def e_JoinedStr(self, node: ast.JoinedStr) -> Eval:
        parts: list[Eval] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                text = value.value
                parts.append(lambda run, text=text: text)
            elif isinstance(value, ast.FormattedValue):
                parts.append(self.formatted(value))
            else:  # pragma: no cover - the parser only produces the two above
                raise _refuse(value, type(value).__name__)
        return lambda run: run.admit("".join(part(run) for part in parts))

    def formatted(self, node: ast.FormattedValue) -> Eval:
        if node.conversion != -1:
            raise _refuse(node, f"f-string conversion '!{chr(node.conversion)}'")
        inner = self.expr(node.value)
        spec = ""
        if node.format_spec is not None:
            pieces = node.format_spec.values if isinstance(node.format_spec, ast.JoinedStr) else []
            if not all(isinstance(p, ast.Constant) for p in pieces):
                raise _refuse(node, "an f-string format spec with expressions")
            spec = "".join(p.value for p in pieces)  # type: ignore[attr-defined]
            if not _FORMAT_SPEC.fullmatch(spec):
                raise _refuse(node, f"f-string format spec '{spec}'")

        def render(run: _Run) -> str:
            value = inner(run)
            if not spec:
                return _fn_str(value)
            if type(value) not in (int, float):
                raise TypeError("an f-string format spec needs a number")
            return format(value, spec)

        return render

    def e_Subscript(self, node: ast.Subscript) -> Eval:
        container = self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            bounds = [None if b is None else self.expr(b) for b in (node.slice.lower, node.slice.upper, node.slice.step)]

            def cut(run: _Run) -> Any:
                value = container(run)
                if type(value) not in _SEQUENCES:
                    raise TypeError(f"cannot slice {type(value).__name__}")
                lo, hi, step = (None if b is None else b(run) for b in bounds)
                if any(x is not None and type(x) is not int for x in (lo, hi, step)):
                    raise TypeError("slice bounds must be integers")
                return run.admit(value[lo:hi:step])

            return cut
        key = self.expr(node.slice)

        def item(run: _Run) -> Any:
            value = container(run)
            if type(value) not in (dict, list, tuple, str):
                raise TypeError(f"'{type(value).__name__}' is not subscriptable")
            return value[key(run)]

        return item

    def e_BinOp(self, node: ast.BinOp) -> Eval:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _refuse(node, f"operator {type(node.op).__name__}")
        left, right = self.expr(node.left), self.expr(node.right)
        return lambda run: run.admit(op(left(run), right(run), run))

    def e_UnaryOp(self, node: ast.UnaryOp) -> Eval:
        op = _UNARY[type(node.op)]
        operand = self.expr(node.operand)
        return lambda run: op(operand(run))

    def e_BoolOp(self, node: ast.BoolOp) -> Eval:
        values = [self.expr(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def all_of(run: _Run) -> Any:
                result = None
                for value in values:
                    result = value(run)
                    if not result:
                        return result
                return result

            return all_of

        def any_of(run: _Run) -> Any:
            result = None
            for value in values:
                result = value(run)
                if result:
                    return result
            return result

        return any_of

    def e_Compare(self, node: ast.Compare) -> Eval:
        first = self.expr(node.left)
        rest = [(_CMPOPS[type(op)], self.expr(c), not isinstance(op, (ast.Is, ast.IsNot)))
                for op, c in zip(node.ops, node.comparators, strict=True)]

        def compare(run: _Run) -> bool:
            left = first(run)
            for op, comparator, deep in rest:
                right = comparator(run)
                if deep:
                    for operand in (left, right):
                        kind = type(operand)
                        if kind in _CONTAINERS:
                            run.charge(run.size(operand))
                        elif kind is str:
                            run.charge(len(operand) // 64)
                if not op(left, right):
                    return False
                left = right
            return True

        return compare

    def e_IfExp(self, node: ast.IfExp) -> Eval:
        test, body, orelse = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
        return lambda run: body(run) if test(run) else orelse(run)

    def e_Call(self, node: ast.Call) -> Eval:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                return self.e_Attribute(node.func)
            raise _refuse(node, "calling anything but a listed function by name")
        name = node.func.id
        if name not in CALLABLE_NAMES:
            raise SandboxViolation(f"calling '{name}' is not allowed (line {node.lineno}): only "
                                   f"{', '.join(sorted(CALLABLE_NAMES))}")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise _refuse(node, "'*' or '**' in a call")
        args = [self.expr(a) for a in node.args]
        kwargs = [(k.arg, self.expr(k.value)) for k in node.keywords]
        shallow = name in _SHALLOW_FUNCTIONS

        def call(run: _Run) -> Any:
            function = run.functions.get(name)
            if function is None:
                raise NameError(f"function '{name}' is not available here")
            values = [a(run) for a in args]
            named = {k: v(run) for k, v in kwargs}
            for value in (*values, *named.values()):
                kind = type(value)
                if kind in _CONTAINERS:
                    run.charge(len(value) if shallow else run.size(value))
                elif kind is str:
                    run.charge(len(value) // 64)
            cost = getattr(function, "sandbox_cost", None)  # helpers whose work grows with an argument
            if cost is not None:
                run.charge(cost(*values, **named))
            return run.admit(function(*values, **named))

        return call

    def comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                      parts: list[Eval]) -> Callable[[_Run], list]:
        generators = []
        for gen in node.generators:
            if gen.is_async:
                raise _refuse(node, "async comprehension")
            generators.append((self.expr(gen.iter), self.target_names(gen.target), [self.expr(i) for i in gen.ifs]))
        cost = sum(1 for _ in ast.walk(node))

        def run_all(run: _Run) -> list:
            out: list = []
            scope: dict = {}
            run.scopes.append(scope)
            try:
                self._loop(run, generators, 0, scope, parts, out, cost)
            finally:
                run.scopes.pop()
            return out

        return run_all

    @staticmethod
    def _loop(run: _Run, generators: list, index: int, scope: dict, parts: list[Eval], out: list, cost: int) -> None:
        source, bind, conditions = generators[index]
        for item in _iterable(source(run), "a comprehension"):
            run.charge(cost)
            bind(scope, item)
            if not all(cond(run) for cond in conditions):
                continue
            if index + 1 < len(generators):
                _Compiler._loop(run, generators, index + 1, scope, parts, out, cost)
            else:
                out.append(tuple(p(run) for p in parts) if len(parts) > 1 else parts[0](run))
                if len(out) > MAX_SIZE:
                    raise SandboxLimitExceeded(f"a comprehension made more than {MAX_SIZE} items")

    def e_ListComp(self, node: ast.ListComp) -> Eval:
        elt = self.expr(node.elt)
        build = self.comprehension(node, [elt])
        return lambda run: run.admit(build(run))

    e_GeneratorExp = e_ListComp  # evaluated eagerly: no generator object ever exists

    def e_SetComp(self, node: ast.SetComp) -> Eval:
        elt = self.expr(node.elt)
        build = self.comprehension(node, [elt])
        return lambda run: run.admit(set(build(run)))

    def e_DictComp(self, node: ast.DictComp) -> Eval:
        key, value = self.expr(node.key), self.expr(node.value)
        build = self.comprehension(node, [key, value])
        return lambda run: run.admit(dict(build(run)))

    def target_names(self, target: ast.expr) -> Callable[[dict, Any], None]:
        """Loop targets: a name or a (nested) tuple of names."""
        if isinstance(target, ast.Name):
            name = self.name(target, target.id)

            def bind(scope: dict, value: Any) -> None:
                scope[name] = value

            return bind
        if isinstance(target, (ast.Tuple, ast.List)):
            binders = [self.target_names(t) for t in target.elts]

            def unpack(scope: dict, value: Any) -> None:
                if type(value) not in (list, tuple) or len(value) != len(binders):
                    raise ValueError(f"cannot unpack into {len(binders)} names")
                for bind, item in zip(binders, value, strict=True):
                    bind(scope, item)

            return unpack
        raise _refuse(target, "this loop target")

    # ---- statements

    def block(self, body: list[ast.stmt]) -> Exec:
        statements = [self.stmt(s) for s in body]

        def run_block(run: _Run) -> None:
            for statement in statements:
                statement(run)

        return run_block

    def stmt(self, node: ast.stmt) -> Exec:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SandboxViolation(f"script nested deeper than {MAX_DEPTH} levels (line {node.lineno})")
        try:
            method = getattr(self, f"s_{type(node).__name__}", None)
            if method is None:
                raise _refuse(node, _NODE_NAMES.get(type(node), type(node).__name__))
            return method(node)
        finally:
            self.depth -= 1

    def s_Pass(self, node: ast.Pass) -> Exec:
        return lambda run: None

    def s_Break(self, node: ast.Break) -> Exec:
        def stop(run: _Run) -> None:
            raise _Break

        return stop

    def s_Continue(self, node: ast.Continue) -> Exec:
        def skip(run: _Run) -> None:
            raise _Continue

        return skip

    def s_Expr(self, node: ast.Expr) -> Exec:
        value = self.expr(node.value)

        def discard(run: _Run) -> None:
            value(run)

        return discard

    def store(self, target: ast.expr) -> Callable[[_Run, Any], None]:
        if isinstance(target, ast.Name):
            name = self.name(target, target.id)

            def set_name(run: _Run, value: Any) -> None:
                run.data[name] = value

            return set_name
        if isinstance(target, ast.Subscript):
            if isinstance(target.slice, ast.Slice):
                raise _refuse(target, "assignment to a slice")
            container, key = self.expr(target.value), self.expr(target.slice)

            def set_item(run: _Run, value: Any) -> None:
                obj = container(run)
                _store_item(run, obj, key(run), value)

            return set_item
        if isinstance(target, (ast.Tuple, ast.List)):
            stores = [self.store(t) for t in target.elts]

            def unpack(run: _Run, value: Any) -> None:
                if type(value) not in (list, tuple) or len(value) != len(stores):
                    raise ValueError(f"cannot unpack into {len(stores)} targets")
                for put, item in zip(stores, value, strict=True):
                    put(run, item)

            return unpack
        raise _refuse(target, "this assignment target")

    def s_Assign(self, node: ast.Assign) -> Exec:
        value = self.expr(node.value)
        stores = [self.store(t) for t in node.targets]

        def assign(run: _Run) -> None:
            result = value(run)
            for put in stores:
                put(run, result)

        return assign

    def s_AugAssign(self, node: ast.AugAssign) -> Exec:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _refuse(node, f"operator {type(node.op).__name__}")
        value = self.expr(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            name = self.name(target, target.id)

            def update_name(run: _Run) -> None:
                run.data[name] = run.admit(op(run.lookup(name), value(run), run))

            return update_name
        if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
            container, key = self.expr(target.value), self.expr(target.slice)

            def update_item(run: _Run) -> None:
                obj, k = container(run), key(run)
                if type(obj) not in (dict, list):
                    raise TypeError(f"cannot assign into {type(obj).__name__}")
                _store_item(run, obj, k, run.admit(op(obj[k], value(run), run)))

            return update_item
        raise _refuse(target, "this assignment target")

    def s_Delete(self, node: ast.Delete) -> Exec:
        deleters: list[Exec] = []
        for target in node.targets:
            if isinstance(target, ast.Name):
                name = self.name(target, target.id)
                deleters.append(lambda run, name=name: run.data.pop(name, None) and None)
            elif isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
                container, key = self.expr(target.value), self.expr(target.slice)

                def delete_item(run: _Run, container: Eval = container, key: Eval = key) -> None:
                    obj = container(run)
                    if type(obj) not in (dict, list):
                        raise TypeError(f"cannot delete from {type(obj).__name__}")
                    del obj[key(run)]
                    run.changed()

                deleters.append(delete_item)
            else:
                raise _refuse(target, "this del target")

        def delete(run: _Run) -> None:
            for deleter in deleters:
                deleter(run)

        return delete

    def s_If(self, node: ast.If) -> Exec:
        test, body = self.expr(node.test), self.block(node.body)
        orelse = self.block(node.orelse) if node.orelse else None

        def branch(run: _Run) -> None:
            if test(run):
                body(run)
            elif orelse is not None:
                orelse(run)

        return branch

    def s_For(self, node: ast.For) -> Exec:
        if node.orelse:
            raise _refuse(node, "for ... else")
        source, body = self.expr(node.iter), self.block(node.body)
        target = self.store(node.target)
        cost = sum(1 for _ in ast.walk(node)) - sum(1 for _ in ast.walk(node.iter))

        def loop(run: _Run) -> None:
            for item in _iterable(source(run), "for"):
                run.charge(cost)
                target(run, item)
                try:
                    body(run)
                except _Continue:
                    continue
                except _Break:
                    break

        return loop


def _store_item(run: _Run, obj: Any, key: Any, value: Any) -> None:
    if type(obj) not in (dict, list):
        raise TypeError(f"cannot assign into {type(obj).__name__}")
    if type(value) in _CONTAINERS and _reaches(run, value, obj):
        raise SandboxLimitExceeded("a value cannot contain itself")
    obj[key] = value
    run.changed()


def _reaches(run: _Run, value: Any, target: Any) -> bool:
    """Whether `target` is `value` or inside it (storing it would make a cycle)."""
    stack, seen = [value], set()
    while stack:
        current = stack.pop()
        if current is target:
            return True
        if id(current) in seen:
            continue
        seen.add(id(current))
        run.charge(1)
        if type(current) is dict:
            stack.extend(v for v in current.values() if type(v) in _CONTAINERS)
        elif type(current) in _CONTAINERS:
            stack.extend(v for v in current if type(v) in _CONTAINERS)
    return False


# --------------------------------------------------------------------------- programs


@dataclass(frozen=True)
class Program:
    """A checked expression or script, ready to run on task data."""

    source: str
    mode: Mode
    code: Callable[[_Run], Any]
    cost: int
    # Whether the script changes containers in place (x[k] = v, del x[k]); if not, a shallow
    # copy of the task data is enough to keep a failed run from leaving anything behind.
    mutates: bool = False

    def evaluate(self, data: dict, external: Mapping | None, functions: Mapping[str, Fn]) -> Any:
        run = _Run(data, external, functions)
        run.charge(self.cost)
        return self.code(run)

    def execute(self, data: dict, external: Mapping | None, functions: Mapping[str, Fn]) -> None:
        run = _Run(data, external, functions)
        run.charge(self.cost)
        try:
            self.code(run)
        except (_Break, _Continue) as exc:  # pragma: no cover - refused at compile time
            raise SandboxViolation("break/continue outside a loop") from exc


@lru_cache(maxsize=4096)
def check_expression(source: str, mode: Mode = "eval") -> Program:
    """Parse and compile `source` with the allow-list; SandboxViolation names what is refused.

    A syntax error is raised as SyntaxError (bundle validation reports both).
    """
    if not isinstance(source, str):
        raise SandboxViolation("an expression must be text")
    if len(source) > MAX_SOURCE:
        raise SandboxViolation(f"source longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except (MemoryError, RecursionError) as exc:
        raise SandboxViolation(f"expression nested deeper than {MAX_DEPTH} levels") from exc
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise SandboxViolation(f"more than {MAX_NODES} syntax elements")
    compiler = _Compiler()
    if isinstance(tree, ast.Expression):
        code: Callable[[_Run], Any] = compiler.expr(tree.body)
    else:
        _check_loop_control(tree.body, in_loop=False)
        code = compiler.block(tree.body)
    mutates = any(
        isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete, ast.For))
        and any(isinstance(t, ast.Subscript) for target in _targets(node) for t in ast.walk(target))
        for node in ast.walk(tree)
    )
    return Program(source=source, mode=mode, code=code, cost=nodes, mutates=mutates)


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, (ast.Assign, ast.Delete)):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.For)):
        return [node.target]
    return []


def _check_loop_control(body: list[ast.stmt], *, in_loop: bool) -> None:
    for node in body:
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            raise _refuse(node, f"'{type(node).__name__.lower()}' outside a loop")
        if isinstance(node, ast.For):
            _check_loop_control(node.body, in_loop=True)
        elif isinstance(node, ast.If):
            _check_loop_control(node.body, in_loop=in_loop)
            _check_loop_control(node.orelse, in_loop=in_loop)


# --------------------------------------------------------------------------- SpiffWorkflow


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow's script environment, backed by the allow-list interpreter.

    PythonScriptEngine sends every condition, script, timer, multi-instance, DMN, message
    and service-parameter expression here (evaluate/execute); nothing reaches eval/exec.
    """

    def __init__(self, helpers: dict[str, Fn] | None = None) -> None:
        super().__init__(dict(helpers or {}))
        self.functions: dict[str, Fn] = {**SAFE_FUNCTIONS, **(helpers or {})}

    def evaluate(self, expression, context, external_context=None):
        return check_expression(expression, "eval").evaluate(context, external_context, self.functions)

    def execute(self, script, context, external_context=None):
        program = check_expression(script, "exec")
        # All or nothing: the script works on a copy, committed only when it finishes.
        working = copy.deepcopy(context) if program.mutates else dict(context)
        program.execute(working, external_context, self.functions)
        context.clear()
        context.update(working)
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks run through the outbox, never inline")
