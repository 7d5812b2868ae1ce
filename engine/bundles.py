"""Process bundles: read a processes/<id>/ folder, validate it, parse its specs.

Validation names the file and the element that is wrong, so that `sync_processes`,
the Django system checks and the admin all report the same clear messages.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree

from accounts.roles import ROLE_CODES
from common.operations import get_operation

from .manifest import attach_deed_mappings, manifest_problems
from .sandbox import SandboxViolation, check_expression
from .spiff import OutboxServiceTask, ProcedoParser, UserTaskMixin, ValidationException, prepare_specs

BUNDLE_SUFFIXES = {".bpmn", ".dmn", ".json", ".yaml", ".yml", ".md", ".docx", ".odt"}
TEXT_SUFFIXES = {".bpmn", ".dmn", ".json", ".yaml", ".yml", ".md"}


class BundleError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class UserTaskMeta:
    bpmn_id: str
    name: str
    lane: str | None
    form: str | None
    ui_form: str | None
    instructions: str
    due_expression: str | None
    not_same_user_as: str | None
    priority: int


@dataclass
class Bundle:
    process_id: str
    files: dict[str, str]  # relpath -> text (binary templates as base64 with a "base64:" prefix)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return digest.hexdigest()


def read_bundle(folder: Path) -> Bundle:
    files: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in BUNDLE_SUFFIXES or path.name.startswith("."):
            continue
        rel = path.relative_to(folder).as_posix()
        if path.suffix in TEXT_SUFFIXES:
            files[rel] = path.read_text(encoding="utf-8")
        else:
            import base64

            files[rel] = "base64:" + base64.b64encode(path.read_bytes()).decode()
    manifest: dict[str, Any] = {}
    if "manifest.yaml" in files:
        manifest = yaml.safe_load(files["manifest.yaml"]) or {}
    return Bundle(process_id=folder.name, files=files, manifest=manifest)


def _parse(files: dict[str, str], process_id: str):
    parser = ProcedoParser()
    for name, text in sorted(files.items()):
        if name.endswith(".bpmn"):
            parser.add_bpmn_str(text.encode("utf-8"), filename=name)
        elif name.endswith(".dmn"):
            parser.add_dmn_str(text.encode("utf-8"), filename=name)
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    prepare_specs(spec, subprocess_specs)
    attach_deed_mappings((spec, subprocess_specs), files, process_id)  # deeds: data from processes/<id>/deeds/
    return spec, subprocess_specs


def form_schema(files: dict[str, str], name: str) -> dict[str, Any]:
    return json.loads(files[f"forms/{name}"])


def user_task_metas(spec, subprocess_specs) -> dict[str, UserTaskMeta]:
    """User-task metadata (lane, form, instructions, due date, four-eyes rule) from the parsed specs.

    SpiffWorkflow's parser already read the lanes (`task_spec.lane`), the names
    (`bpmn_name`) and the spiff extension elements (`task_spec.extensions`), so the
    XML is not read a second time. A multi-instance user task appears once, under its
    BPMN id (the parser keeps the user task as the instance child with the same id).
    """
    metas: dict[str, UserTaskMeta] = {}
    for task_spec in _all_task_specs(spec, subprocess_specs):
        if not isinstance(task_spec, UserTaskMixin) or task_spec.bpmn_id in metas:
            continue
        extensions = getattr(task_spec, "extensions", None) or {}
        props = extensions.get("properties") or {}
        try:
            priority = int(props.get("priority") or 2)
        except ValueError:
            priority = 2
        metas[task_spec.bpmn_id] = UserTaskMeta(
            bpmn_id=task_spec.bpmn_id,
            name=task_spec.bpmn_name or task_spec.bpmn_id,
            lane=(task_spec.lane or "").strip() or None,
            form=props.get("formJsonSchemaFilename"),
            ui_form=props.get("formUiSchemaFilename"),
            instructions=(extensions.get("instructionsForEndUser") or "").strip(),
            due_expression=props.get("dueDate"),
            not_same_user_as=props.get("notSameUserAs"),
            priority=priority,
        )
    return metas


@dataclass(frozen=True)
class ElementIndex:
    """What the case page shows about a model: step names by BPMN id, service results by variable."""

    names: dict[str, str]
    service_result_titles: dict[str, str]


def element_index(spec, subprocess_specs, *, main_file: str) -> ElementIndex:
    """Names of the flow nodes of the main model file and the titles of its service-task results.

    Read from the parsed specs (`bpmn_name`, the service task's `result_variable`).
    Only the main file's processes are named, as the case page always did: a called
    process in another file keeps its steps unnamed there.
    """
    names: dict[str, str] = {}
    titles: dict[str, str] = {}
    for process in (spec, *subprocess_specs.values()):
        if getattr(process, "file", None) != main_file:
            continue
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            name = getattr(task_spec, "bpmn_name", None)
            if not bpmn_id or not name:
                continue
            names.setdefault(bpmn_id, name)
            if isinstance(task_spec, OutboxServiceTask) and task_spec.result_variable:
                titles.setdefault(task_spec.result_variable, name)
    return ElementIndex(names=names, service_result_titles=titles)


@dataclass(frozen=True)
class Problem:
    """One problem of a bundle: where (file, BPMN element), what (a stable English code) and the
    Italian message. `text` is the one-line form `sync_processes` and the system checks print."""

    file: str
    element_id: str | None
    code: str
    message: str
    text: str
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "element_id": self.element_id, "code": self.code, "message": self.message,
                "severity": self.severity}


def _problem(pid: str, file: str, code: str, message: str, *, element_id: str | None = None,
             where: str | None = None) -> Problem:
    prefix = where if where is not None else f"{pid}/{file}:"
    return Problem(file=file, element_id=element_id, code=code, message=message, text=f"{prefix} {message}")


def _from_text(pid: str, text: str, code: str, *, element_id: str | None = None) -> Problem:
    """A problem reported as "<pid>/<file>: message" by the manifest checks."""
    head, sep, message = text.partition(": ")
    file = head.removeprefix(f"{pid}/") if sep and head.startswith(f"{pid}/") else "manifest.yaml"
    return Problem(file=file, element_id=element_id, code=code, message=message if sep else text, text=text)


def _task_problem(where: str, file: str, meta: UserTaskMeta, code: str, message: str) -> Problem:
    return Problem(file=file, element_id=meta.bpmn_id, code=code, message=message, text=f"{where} {message}")


def validate_bundle(bundle: Bundle) -> list[str]:
    """Every problem of the bundle, each naming file and element. Empty list: valid."""
    return [problem.text for problem in bundle_problems(bundle)]


def bundle_problems(bundle: Bundle, *, parsed: list | None = None) -> list[Problem]:
    """Every problem of the bundle as `Problem`s (file, element id, code, Italian message).

    `parsed`, when given, receives the (spec, subprocess_specs) pair of a model that parsed, so a
    caller with more checks to make (the studio) does not parse it again."""
    problems: list[Problem] = []
    pid = bundle.process_id
    main = f"{pid}.bpmn"
    if main not in bundle.files:
        return [Problem(file=main, element_id=None, code="missing_model", message=f"manca il modello {main}",
                        text=f"{pid}: manca il modello {main}")]
    if "manifest.yaml" not in bundle.files:
        problems.append(_problem(pid, "manifest.yaml", "missing_manifest", "file mancante"))
    for name, text in bundle.files.items():
        if name.endswith((".bpmn", ".dmn")):
            try:
                etree.fromstring(text.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
            except etree.XMLSyntaxError as exc:
                problems.append(_problem(pid, name, "invalid_xml", f"XML non valido: {exc}"))
    if problems:
        return problems
    try:
        spec, subprocess_specs = _parse(bundle.files, pid)
    except ValidationException as exc:
        file = exc.file_name or main
        element_id = getattr(exc, "id", None) or None
        element = f" elemento '{element_id}'" if element_id else ""
        return [Problem(file=file, element_id=element_id, code="bpmn_invalid", message=str(exc),
                        text=f"{pid}/{file}:{element} {exc}")]
    except Exception as exc:  # the parser raises assorted errors for broken models
        return [_problem(pid, main, "model_unreadable", f"il modello non si può leggere: {exc}")]
    if parsed is not None:
        parsed.append((spec, subprocess_specs))

    forms = {n.removeprefix("forms/") for n in bundle.files if n.startswith("forms/")}
    start_form = bundle.manifest.get("start_form")
    if start_form:
        problems += _schema_problems(bundle, start_form, pid, "manifest start_form")
    problems += [_from_text(pid, text, "manifest_invalid")
                 for text in manifest_problems(pid, bundle.manifest, bundle.files, specs=(spec, subprocess_specs))]
    for meta in user_task_metas(spec, subprocess_specs).values():
        where = f"{pid}/{main}: user task '{meta.bpmn_id}'"
        if not meta.lane:
            problems.append(_task_problem(where, main, meta, "missing_lane", "non è in nessuna corsia (lane) con un ruolo"))
        elif meta.lane not in ROLE_CODES:
            problems.append(_task_problem(where, main, meta, "unknown_role", f"è nella corsia '{meta.lane}', che non è "
                                          f"un ruolo noto ({', '.join(sorted(ROLE_CODES))})"))
        if not meta.form:
            problems.append(_task_problem(where, main, meta, "missing_form", "non indica il modulo (formJsonSchemaFilename)"))
        elif meta.form not in forms:
            problems.append(_task_problem(where, main, meta, "unknown_form",
                                          f"indica il modulo forms/{meta.form}, che non esiste"))
        else:
            problems += _schema_problems(bundle, meta.form, pid, f"user task '{meta.bpmn_id}'", element_id=meta.bpmn_id)
        if meta.ui_form and meta.ui_form not in forms:
            problems.append(_task_problem(where, main, meta, "unknown_ui_form",
                                          f"indica forms/{meta.ui_form}, che non esiste"))
        if meta.due_expression:
            problems += _expr_problems(meta.due_expression, "eval", f"{where} dueDate", file=main,
                                       element_id=meta.bpmn_id)

    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, OutboxServiceTask) and get_operation(task_spec.operation_name) is None:
                message = f"chiama l'operazione sconosciuta '{task_spec.operation_name}'"
                problems.append(Problem(
                    file=getattr(process, "file", None) or main, element_id=task_spec.bpmn_id,
                    code="unknown_operation", message=message,
                    text=f"{pid}/{main}: service task '{task_spec.bpmn_id}' {message}"))
    for where, source, mode, file, element_id in _located_expressions(pid, spec, subprocess_specs):
        problems += _expr_problems(source, mode, where, file=file, element_id=element_id)
    return problems


def _expressions(pid: str, spec, subprocess_specs):
    """(where, source, mode) of every expression and script SpiffWorkflow will evaluate."""
    for where, source, mode, _file, _element in _located_expressions(pid, spec, subprocess_specs):
        yield where, source, mode


def _located_expressions(pid: str, spec, subprocess_specs):
    """(where, source, mode, file, element id) of every expression and script SpiffWorkflow will evaluate.

    Walks the parsed specs, so it sees what the engine sees: scripts, pre/post scripts,
    gateway conditions, multi-instance and loop expressions, timer, message, signal and
    conditional event expressions, correlation retrieval expressions, service-task
    parameters, DMN input expressions and rule cells, ad-hoc completion conditions.
    """
    for process in (spec, *subprocess_specs.values()):
        file = getattr(process, "file", None) or f"{pid}.bpmn"
        completion = getattr(process, "completion_condition", None)
        if isinstance(completion, str):
            yield f"{pid}/{file}: processo '{process.name}' completionCondition", completion, "eval", file, process.name
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
            where = f"{pid}/{file}: {_kind(task_spec)} '{bpmn_id}'"
            for attr, label, mode in (("script", "script", "exec"), ("prescript", "preScript", "exec"),
                                      ("postscript", "postScript", "exec"), ("cardinality", "loopCardinality", "eval"),
                                      ("condition", "condition", "eval")):
                source = getattr(task_spec, attr, None)
                if isinstance(source, str) and source.strip():
                    yield f"{where} {label}", source, mode, file, bpmn_id
            for condition, target in getattr(task_spec, "cond_task_specs", None) or []:
                if condition is not None:
                    yield f"{where} condizione verso '{target}'", condition.args[0], "eval", file, bpmn_id
            for pname, param in (getattr(task_spec, "operation_params", None) or {}).items():
                yield f"{where} parametro '{pname}'", param.get("value"), "eval", file, bpmn_id
            definition = getattr(task_spec, "event_definition", None)
            if definition is not None:
                for w, src, m in _event_expressions(where, definition):
                    yield w, src, m, file, bpmn_id
            engine = getattr(task_spec, "dmnEngine", None)
            if engine is not None:
                for w, src, m in _dmn_expressions(where, engine.decision_table):
                    yield w, src, m, file, bpmn_id


located_expressions = _located_expressions  # the studio's checks walk the same expressions


def _kind(task_spec) -> str:
    name = type(task_spec).__name__
    return {"ScriptTask": "script task", "UserTask": "user task", "ExclusiveGateway": "gateway",
            "InclusiveGateway": "gateway", "BusinessRuleTask": "business rule task"}.get(
        name, "service task" if isinstance(task_spec, OutboxServiceTask) else "elemento")


def _event_expressions(where: str, definition):
    for inner in getattr(definition, "event_definitions", None) or []:  # MultipleEventDefinition
        yield from _event_expressions(where, inner)
    expression = getattr(definition, "expression", None)
    if isinstance(expression, str) and expression.strip():
        yield f"{where} evento '{definition.name or type(definition).__name__}'", expression, "eval"
    for prop in (getattr(definition, "correlation_properties", None) or []) + \
            (getattr(definition, "process_correlations", None) or []):
        yield f"{where} correlazione '{prop.name}'", prop.retrieval_expression, "eval"


# SpiffWorkflow's DMN engine rewrites '?' to the input value, outside quotes (DMNEngine.evaluate).
_DMN_QUESTION = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")


def _dmn_expressions(where: str, table):
    for column in table.inputs:
        if column.expression:
            yield f"{where} DMN '{table.id}' input '{column.label or column.id}'", column.expression, "eval"
    for rule in table.rules:
        cell = f"{where} DMN '{table.id}' riga {rule.row_number}"
        for entry in rule.inputEntries:
            input_expression = entry.input.expression or "None"
            for lhs in entry.lhs:
                if lhs is None or not lhs.strip():
                    continue
                if "?" in lhs:
                    yield cell, _DMN_QUESTION.sub("dmninputexpr", lhs), "eval"
                    continue
                try:
                    ast.parse(lhs, mode="eval")
                except SyntaxError:
                    yield cell, f"{input_expression} {lhs}", "eval"  # "< 5": the engine writes "x < 5"
                else:
                    yield cell, f"({input_expression}) == ({lhs})", "eval"
        for entry in rule.outputEntries:
            if getattr(entry, "text", None):
                yield cell, entry.text, "eval"


def _all_task_specs(spec, subprocess_specs):
    yield from spec.task_specs.values()
    for sub in subprocess_specs.values():
        yield from sub.task_specs.values()


def _check_schema(bundle: Bundle, form: str, pid: str, who: str) -> list[str]:
    return [problem.text for problem in _schema_problems(bundle, form, pid, who)]


def _schema_problems(bundle: Bundle, form: str, pid: str, who: str, *, element_id: str | None = None) -> list[Problem]:
    path = f"forms/{form}"
    if path not in bundle.files:
        return [_problem(pid, path, "missing_form", f"modulo mancante ({who})", element_id=element_id)]
    try:
        schema = json.loads(bundle.files[path])
        Draft202012Validator.check_schema(schema)
    except json.JSONDecodeError as exc:
        return [_problem(pid, path, "invalid_json", f"JSON non valido alla riga {exc.lineno}: {exc.msg}",
                         element_id=element_id)]
    except SchemaError as exc:
        return [_problem(pid, path, "invalid_schema",
                         f"JSON Schema non valido in {'/'.join(map(str, exc.path)) or 'radice'}: {exc.message}",
                         element_id=element_id)]
    return [_from_text(pid, text, "invalid_file_field", element_id=element_id)
            for text in _check_file_fields(schema, f"{pid}/{path}")]


FILE_KINDS = frozenset({"pdf", "jpeg", "png", "tiff"})


def _check_file_fields(schema: Any, where: str, prefix: str = "") -> list[str]:
    """`"format": "file"` fields: `x-accept` must name kinds the upload check knows, `x-max-bytes` a size."""
    problems: list[str] = []
    for key, prop in ((schema or {}).get("properties") or {}).items() if isinstance(schema, dict) else []:
        if not isinstance(prop, dict):
            continue
        name = f"{prefix}{key}"
        if prop.get("format") == "file":
            accept = prop.get("x-accept", [])
            unknown = sorted(set(accept) - FILE_KINDS) if isinstance(accept, list) else ["?"]
            if unknown:
                problems.append(f"{where}: campo {name}: x-accept ammette solo {', '.join(sorted(FILE_KINDS))} "
                                f"(trovato {', '.join(map(str, unknown))})")
            size = prop.get("x-max-bytes", 1)
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                problems.append(f"{where}: campo {name}: x-max-bytes deve essere un numero di byte positivo")
        elif prop.get("type") == "object":
            problems += _check_file_fields(prop, where, f"{name}.")
    return problems


def _check_expr(source: Any, mode: str, where: str) -> list[str]:
    """The same allow-list parser the engine runs: a refused construct is named here, at sync time."""
    return [problem.text for problem in _expr_problems(source, mode, where, file="", element_id=None)]


def _expr_problems(source: Any, mode: str, where: str, *, file: str, element_id: str | None) -> list[Problem]:
    message = expression_problem(source, mode)
    if message is None:
        return []
    return [Problem(file=file, element_id=element_id, code="invalid_expression", message=f"{where.partition(': ')[2] or where}: {message}",
                    text=f"{where}: {message}")]


def expression_problem(source: Any, mode: str) -> str | None:
    """Why the engine's sandbox refuses `source` (Italian), or None when it accepts it."""
    try:
        check_expression(source, mode)  # type: ignore[arg-type]
    except SandboxViolation as exc:
        return f"espressione non ammessa: {exc}"
    except SyntaxError as exc:
        return f"errore di sintassi alla riga {exc.lineno}: {exc.msg}"
    except (ValueError, TypeError) as exc:  # e.g. a NUL byte in the source
        return f"espressione non ammessa: {exc}"
    return None


# Versions are immutable, so their parsed forms are cached per process. The key
# includes the content hash: a primary key alone can be reused (SQLite after a
# rolled-back test), a (pk, hash) pair cannot name two different bundles.
_version_files: dict[tuple[int, str], dict[str, str]] = {}


_versions: dict[int, Any] = {}


def version_by_id(version_id: int):
    """An immutable ProcessVersion (files deferred), cached per process."""
    version = _versions.get(version_id)
    if version is None:
        from .models import ProcessVersion

        version = ProcessVersion.objects.select_related("definition").defer("files").get(pk=version_id)
        _versions[version_id] = version
    return version


def forget_cached_versions() -> None:
    """Tests that reuse primary keys across databases call this."""
    _versions.clear()
    _version_files.clear()
    _parsed.cache_clear()
    _user_tasks.cache_clear()
    _element_index.cache_clear()
    from .selectors import forget_cached_summaries

    forget_cached_summaries()  # keyed by instance and version keys, which such tests reuse


def _files(version) -> dict[str, str]:
    key = (version.pk, version.content_hash)
    if key not in _version_files:
        if "files" in version.get_deferred_fields():
            from .models import ProcessVersion

            _version_files[key] = ProcessVersion.objects.values_list("files", flat=True).get(pk=version.pk)
        else:
            _version_files[key] = version.files
    return _version_files[key]


@lru_cache(maxsize=64)
def _parsed(key: tuple[int, str], process_id: str):
    return _parse(_version_files[key], process_id)


def parsed_specs(version):
    """Parsed (spec, subprocess_specs) of a stored process version."""
    _files(version)
    return _parsed((version.pk, version.content_hash), version.definition.process_id)


@lru_cache(maxsize=64)
def _user_tasks(key: tuple[int, str], process_id: str) -> dict[str, UserTaskMeta]:
    return user_task_metas(*_parsed(key, process_id))


def version_user_tasks(version) -> dict[str, UserTaskMeta]:
    _files(version)
    return _user_tasks((version.pk, version.content_hash), version.definition.process_id)


@lru_cache(maxsize=64)
def _element_index(key: tuple[int, str], process_id: str) -> ElementIndex:
    return element_index(*_parsed(key, process_id), main_file=f"{process_id}.bpmn")


def version_element_index(version) -> ElementIndex:
    """Step names and service-result titles of a stored version (cached; versions are immutable)."""
    _files(version)
    return _element_index((version.pk, version.content_hash), version.definition.process_id)


def version_files(version) -> dict[str, str]:
    """Every file of a stored version (cached; versions are immutable)."""
    return _files(version)


def version_form(version, form: str) -> dict[str, Any]:
    return form_schema(_files(version), form)


# Public names of what the studio (above the engine) uses: it checks drafts exactly as publishing does.
def parse_bundle_files(files: dict[str, str], process_id: str):
    """(spec, subprocess_specs) of a bundle's files, parsed and prepared as the engine runs them
    (deed mappings attached); raises SpiffWorkflow's ValidationException for a broken model."""
    return _parse(files, process_id)


def file_field_problems(schema: Any, where: str) -> list[str]:
    """Problems of a form's `"format": "file"` fields (accepted kinds, size), as sync_processes reports them."""
    return _check_file_fields(schema, where)
