"""Validation of a draft before it is published.

The engine's own checks come first (`engine.bundles.bundle_problems`: the model parses, lanes are
roles, forms are valid JSON Schema, operations exist, every expression passes the sandbox, the
manifest is sound), so a draft is held to exactly what `sync_processes` demands. The studio adds
what an administrator editing in the browser needs on top:

- every user task has a deadline (`dueDate`);
- every required parameter of an operation is bound (every operation declares its parameters);
- timers given as constants parse as ISO 8601 (a date, a duration or a cycle);
- every name the process reads (an expression, a script, a gateway condition, an operation
  parameter, a deadline) is produced somewhere: by the start form, a user task (its data goes under
  the task id), a service result, a script, a DMN output, a message, the manifest's settings or the
  data the engine injects; a key read from a task's data (`registration["origin"]`,
  `get(registration, "origin")`) is a field of that task's form, one read from `settings` a setting
  of the manifest. A name or key nothing produces is an error on the element that reads it; a key
  is only a warning where the form may hold fields it does not list (`additionalProperties` or
  `patternProperties` given as a schema), since there the check cannot know.

Every problem names its file and, where there is one, the BPMN element, so the editor can mark it.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from common.operations import get_operation
from engine.bundles import Bundle, Problem, bundle_problems, located_expressions, user_task_metas
from engine.sandbox import CALLABLE_NAMES
from engine.spiff import OutboxServiceTask, UserTaskMixin

# What the engine and the case start put into every case's data (engine.runtime, cases.services).
INJECTED_NAMES = frozenset({"case_id", "case_number", "received_on", "tenant_istat", "tenant_name", "channel",
                            "received_on_reason", "final_outcome",
                            # the tenant's process settings as they were when the case opened (cases.process_settings)
                            "settings"})
# The DMN engine's stand-in for the input value (engine.bundles._DMN_QUESTION).
_PLACEHOLDERS = frozenset({"dmninputexpr"})


def draft_bundle(process_id: str, files: Mapping[str, str]) -> tuple[Bundle, list[Problem]]:
    """The draft's files as an engine Bundle (manifest read from manifest.yaml)."""
    problems: list[Problem] = []
    manifest: Any = {}
    text = files.get("manifest.yaml")
    if text is not None:
        try:
            manifest = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" alla riga {mark.line + 1}" if mark is not None else ""
            message = f"YAML non valido{line}"
            problems.append(Problem(file="manifest.yaml", element_id=None, code="invalid_yaml", message=message,
                                    text=f"{process_id}/manifest.yaml: {message}"))
            manifest = {}
        if not isinstance(manifest, dict):
            manifest = {}
    return Bundle(process_id=process_id, files=dict(files), manifest=manifest), problems


def validate_draft(process_id: str, files: Mapping[str, str]) -> list[Problem]:
    """Every problem of the draft (errors and warnings), engine checks first."""
    bundle, problems = draft_bundle(process_id, files)
    parsed: list = []
    problems += bundle_problems(bundle, parsed=parsed)
    if not parsed:
        return problems
    spec, subprocess_specs = parsed[0]
    main = f"{process_id}.bpmn"
    problems += _due_dates(spec, subprocess_specs, main)
    problems += _operation_params(spec, subprocess_specs, main)
    problems += _timers(spec, subprocess_specs, main)
    problems += _data_flow(bundle, spec, subprocess_specs, main)
    return problems


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


def _problem(file: str, element_id: str | None, code: str, message: str, severity: str = "error") -> Problem:
    where = f"{file}: {element_id} " if element_id else f"{file}: "
    return Problem(file=file, element_id=element_id, code=code, message=message, text=f"{where}{message}",
                   severity=severity)


def _processes(spec, subprocess_specs):
    return (spec, *subprocess_specs.values())


def _due_dates(spec, subprocess_specs, main: str) -> list[Problem]:
    return [
        _problem(main, meta.bpmn_id, "missing_due_date",
                 f"il compito '{meta.name}' non ha una scadenza (dueDate): indicala, ad esempio "
                 f"add_working_days(received_on, 5)")
        for meta in user_task_metas(spec, subprocess_specs).values() if not (meta.due_expression or "").strip()
    ]


def _operation_params(spec, subprocess_specs, main: str) -> list[Problem]:
    problems = []
    for process in _processes(spec, subprocess_specs):
        file = getattr(process, "file", None) or main
        for task_spec in process.task_specs.values():
            if not isinstance(task_spec, OutboxServiceTask):
                continue
            operation = get_operation(task_spec.operation_name)
            if operation is None:
                continue  # an unknown operation is the engine's problem
            bound = {name for name, param in (task_spec.operation_params or {}).items()
                     if str((param or {}).get("value") or "").strip()}
            declared = {p.name for p in operation.params}
            for param in operation.params:
                if param.required and param.name not in bound:
                    problems.append(_problem(file, task_spec.bpmn_id, "missing_parameter",
                                             f"l'operazione '{operation.name}' richiede il parametro "
                                             f"'{param.name}', che non è valorizzato"))
            for name in sorted(set(task_spec.operation_params or {}) - declared):
                problems.append(_problem(file, task_spec.bpmn_id, "unknown_parameter",
                                         f"l'operazione '{operation.name}' non usa il parametro '{name}'",
                                         severity="warning"))
    return problems


def _timer_definitions(definition) -> Iterable[TimerEventDefinition]:
    for inner in getattr(definition, "event_definitions", None) or []:
        yield from _timer_definitions(inner)
    if isinstance(definition, TimerEventDefinition):
        yield definition


def timer_problem(definition: TimerEventDefinition) -> str | None:
    """Why a constant timer does not parse (Italian), or None (also for a computed one)."""
    expression = definition.expression
    try:
        tree = ast.parse((expression or "").strip(), mode="eval")
    except SyntaxError:
        return None  # the sandbox check reports it
    if not (isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, str)):
        return None  # computed at run time (e.g. end_of_day(term_end(received_on, 45)))
    value = tree.body.value
    try:
        if isinstance(definition, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
            if not value.upper().startswith("P"):
                raise ValueError(value)
        elif isinstance(definition, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        elif isinstance(definition, TimeDateEventDefinition):
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # SpiffWorkflow's parsers raise assorted errors
        kind = {DurationTimerEventDefinition: "una durata ISO 8601 (es. 'P45D')",
                CycleTimerEventDefinition: "un ciclo ISO 8601 (es. 'R3/PT1H')"}.get(
            type(definition), "una data ISO 8601 (es. '2027-01-31T12:00:00') o una durata (es. 'P10D')")
        return f"il timer '{value}' non è {kind}"
    return None


def _timers(spec, subprocess_specs, main: str) -> list[Problem]:
    problems = []
    for process in _processes(spec, subprocess_specs):
        file = getattr(process, "file", None) or main
        for task_spec in process.task_specs.values():
            for definition in _timer_definitions(getattr(task_spec, "event_definition", None)):
                message = timer_problem(definition)
                if message:
                    problems.append(_problem(file, task_spec.bpmn_id, "invalid_timer", message))
    return problems


# --------------------------------------------------------------------------- data flow


_COMPOSITE = ("allOf", "anyOf", "oneOf")


def _form_fields(schema: Any) -> tuple[set[str], bool] | None:
    """(fields, open) of a form: every property it may hold at the top level, its conditional parts
    (allOf/anyOf/oneOf, if/then/else, dependencies) included; `open` when it may hold fields it does
    not name. None when it is no object schema with properties (then nothing is checked)."""
    if not isinstance(schema, dict):
        return None
    fields: set[str] = set()
    open_ = isinstance(schema.get("additionalProperties"), dict) or bool(schema.get("patternProperties"))
    found = False
    if isinstance(schema.get("properties"), dict):
        fields |= set(schema["properties"])
        found = True
    parts = [part for key in _COMPOSITE for part in (schema.get(key) or []) if isinstance(schema.get(key), list)]
    parts += [schema[key] for key in ("if", "then", "else") if isinstance(schema.get(key), dict)]
    dependencies = schema.get("dependencies") or schema.get("dependentSchemas")
    if isinstance(dependencies, dict):
        parts += [d for d in dependencies.values() if isinstance(d, dict)]
    for part in parts:
        inner = _form_fields(part)
        if inner is not None:
            fields |= inner[0]
            open_ = open_ or inner[1]
            found = True
    return (fields, open_) if found else None


def _schema_fields(files: Mapping[str, str], form: str | None) -> tuple[set[str], bool] | None:
    if not form:
        return None
    try:
        schema = json.loads(files.get(f"forms/{form}", ""))
    except (json.JSONDecodeError, TypeError):
        return None  # the engine's checks report the broken schema
    return _form_fields(schema)


def _schema_properties(files: Mapping[str, str], form: str | None) -> set[str] | None:
    """Fields of a form (None: unknown, e.g. a broken or open schema)."""
    found = _schema_fields(files, form)
    return found[0] if found is not None else None


def _produced(bundle: Bundle, spec, subprocess_specs) -> set[str]:
    produced = set(INJECTED_NAMES)
    produced |= _schema_properties(bundle.files, bundle.manifest.get("start_form")) or set()
    for process in _processes(spec, subprocess_specs):
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:  # a task's data, a message payload: under the element id
                produced |= {bpmn_id, f"{bpmn_id}_completed_by", f"{bpmn_id}_completed_at"}
            result = getattr(task_spec, "result_variable", None)
            if result:
                produced.add(result)
            for attr in ("data_input", "data_output", "input_item", "output_item"):
                ref = getattr(task_spec, attr, None)
                if getattr(ref, "bpmn_id", None):
                    produced.add(ref.bpmn_id)
            for attr in ("script", "prescript", "postscript"):
                source = getattr(task_spec, attr, None)
                if isinstance(source, str):
                    produced |= _stored_names(source)
            engine = getattr(task_spec, "dmnEngine", None)
            if engine is not None:
                produced |= {o.name for o in engine.decision_table.outputs if o.name}
    return produced


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a piece of code binds itself: assignments, loop and comprehension targets, lambda and
    function arguments, function names, `except ... as` names."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}
    names |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ExceptHandler) and n.name}
    return names


def _stored_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _reads(source: str, mode: str) -> tuple[set[str], list[tuple[str, str]]]:
    """(names read, (name, key) pairs read as name["key"] or get(name, "key"))."""
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except (SyntaxError, ValueError):
        return set(), []
    bound = _bound_names(tree)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    keys: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name) \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            keys.append((node.value.id, node.slice.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get" \
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            keys.append((node.args[0].id, node.args[1].value))
    # A key read from a name the code binds itself (a loop variable named like a task) is not the task's.
    return names - bound - CALLABLE_NAMES - _PLACEHOLDERS, [(n, k) for n, k in keys if n not in bound]


def _setting_names(manifest: Mapping[str, Any]) -> set[str]:
    settings = manifest.get("settings") if isinstance(manifest, Mapping) else None
    return {str(name) for name in settings} if isinstance(settings, dict) else set()


def _data_flow(bundle: Bundle, spec, subprocess_specs, main: str) -> list[Problem]:
    produced = _produced(bundle, spec, subprocess_specs)
    task_fields = {meta.bpmn_id: _schema_fields(bundle.files, meta.form)
                   for meta in user_task_metas(spec, subprocess_specs).values()}
    # `settings` holds exactly the manifest's settings (their defaults, or the municipality's values).
    task_fields["settings"] = (_setting_names(bundle.manifest), False)
    seen: set[tuple[str | None, str]] = set()
    problems = []
    expressions = [(source, mode, file, element_id)
                   for _where, source, mode, file, element_id in located_expressions(bundle.process_id, spec,
                                                                                       subprocess_specs)]
    expressions += [(meta.due_expression, "eval", main, meta.bpmn_id)
                    for meta in user_task_metas(spec, subprocess_specs).values() if meta.due_expression]
    for source, mode, file, element_id in expressions:
        if not isinstance(source, str):
            continue
        names, keys = _reads(source, mode)
        for name in sorted(names - produced):
            if (element_id, name) not in seen:
                seen.add((element_id, name))
                problems.append(_problem(file or main, element_id, "unknown_field",
                                         f"legge il dato '{name}', che nessun modulo, compito, servizio, script "
                                         f"o impostazione produce"))
        for name, key in keys:
            found = task_fields.get(name)
            if found is None or key in found[0] or (element_id, f"{name}.{key}") in seen:
                continue
            seen.add((element_id, f"{name}.{key}"))
            fields, open_ = found
            if name == "settings":
                problems.append(_problem(file or main, element_id, "unknown_setting",
                                         f"legge l'impostazione '{key}', che il manifest (settings) non dichiara"))
            elif open_:
                problems.append(_problem(file or main, element_id, "unknown_form_field",
                                         f"legge il campo '{key}' del compito '{name}', che il suo modulo non "
                                         f"elenca (il modulo ammette altri campi: verificare)", severity="warning"))
            else:
                problems.append(_problem(file or main, element_id, "unknown_form_field",
                                         f"legge il campo '{key}' del compito '{name}', che il suo modulo non ha"))
    return problems


def user_task_ids(spec, subprocess_specs) -> list[tuple[str, str]]:
    """(id, name) of every user task, for the editor's four-eyes picker."""
    seen: dict[str, str] = {}
    for process in _processes(spec, subprocess_specs):
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, UserTaskMixin) and task_spec.bpmn_id not in seen:
                seen[task_spec.bpmn_id] = task_spec.bpmn_name or task_spec.bpmn_id
    return sorted(seen.items())
