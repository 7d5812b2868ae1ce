"""The deeds of a draft, each DOCX's placeholders checked against the data the process produces.

For every deed the manifest declares (processes/<id>/deeds/: the DOCX, its field list and the
mapping that computes those fields from the case), `deeds_check` reports:

- every placeholder of the DOCX, part by part (the extraction documents/templates.py uses when a
  template is uploaded: the same Jinja parser, the same loop-variable resolution), and whether the
  deed's field list has it: a placeholder not in the list is an error (the upload would refuse it);
- the fields of the list no placeholder uses (a warning: the deed never shows them);
- the fields the mapping does not compute (a warning: empty in every deed), `ente` aside (the
  documents service fills in the municipality's letterhead);
- the case data each mapping expression reads, checked against what the process produces: the
  start form's fields, each user task's form (its data is stored under the task id), service-task
  results, script-task assignments, decision-table outputs, message payloads and the values the
  engine injects (case_number, tenant_name, ...). A name nobody produces is an error; a key read
  from a form that the form does not have (`registration["origni"]`) is an error too.
"""

from __future__ import annotations

import ast
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# What the engine puts in every case's data (engine/runtime.py) and what the case start adds.
INJECTED_NAMES = frozenset({"case_id", "case_number", "received_on", "tenant_istat", "tenant_name", "channel",
                            "received_on_reason", "final_outcome"})
LETTERHEAD_FIELDS = frozenset({"ente"})  # filled in by the documents service, never mapped


@dataclass
class Placeholder:
    path: str  # dotted, `[]` for a loop item: componenti[].nome
    parts: list[str]  # where in the DOCX (corpo, intestazione, ...)
    known: bool

    @property
    def shown(self) -> str:
        return "{{ " + self.path.replace("[]", "") + " }}" if "[]" not in self.path else self.path


@dataclass
class Problem:
    severity: str  # error | warning
    code: str
    message: str


@dataclass
class DeedReport:
    name: str
    title: str
    template: str
    fields_file: str
    mapping_file: str | None
    placeholders: list[Placeholder] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "template": self.template,
                "placeholders": [{"path": p.path, "parts": p.parts, "known": p.known} for p in self.placeholders],
                "problems": [{"severity": p.severity, "code": p.code, "message": p.message} for p in self.problems]}


@dataclass
class ProcessData:
    """What the process puts in the case data, by top-level name; a schema when the shape is known."""

    names: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, schema: dict[str, Any] | None, origin: str) -> None:
        if name not in self.names or (self.names[name] is None and schema is not None):
            self.names[name] = schema
            self.origins[name] = origin


def deeds_check(process_id: str, files: Mapping[str, str]) -> tuple[list[DeedReport], list[str]]:
    """(one report per deed, problems of the procedure as a whole) for a draft's files."""
    from engine.manifest import Manifest

    general: list[str] = []
    try:
        manifest = yaml.safe_load(files.get("manifest.yaml", "")) or {}
    except yaml.YAMLError as exc:
        return [], [_("manifest.yaml non è YAML valido: %(e)s") % {"e": str(exc)[:300]}]
    if not isinstance(manifest, dict):
        return [], [_("manifest.yaml deve essere una mappa.")]
    specs = None
    try:
        from engine.manifest import model_specs

        specs = model_specs(process_id, files)
    except Exception as exc:  # noqa: BLE001 - the validation page names it; here the deeds are still listed
        general.append(_("Il modello BPMN non si legge (%(e)s): i dati prodotti dal processo non si possono "
                         "verificare.") % {"e": str(exc)[:300]})
    try:
        parsed = Manifest.parse(process_id, manifest, files, specs=specs)
    except Exception as exc:  # noqa: BLE001
        return [], [*general, _("Il manifest non si legge: %(e)s") % {"e": str(exc)[:300]}]
    data = process_data(manifest, files, specs) if specs is not None else None
    reports = []
    for deed in parsed.deeds.values():
        reports.append(_deed_report(deed, files, data))
    declared = {d.template for d in parsed.deeds.values()}
    for path in sorted(files):
        if path.endswith(".docx") and path not in declared:
            general.append(_("%(path)s non è dichiarato tra i «deeds» del manifest: nessun atto lo usa.")
                           % {"path": path})
    return reports, general


# ---------------------------------------------------------------- what the process produces


def _form(files: Mapping[str, str], name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    try:
        schema = json.loads(files.get(f"forms/{name}", ""))
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def process_data(manifest: Mapping[str, Any], files: Mapping[str, str], specs: Any) -> ProcessData:
    from engine.bundles import OutboxServiceTask, user_task_metas
    from engine.manifest import all_task_specs

    found = ProcessData()
    for name in INJECTED_NAMES:
        found.add(name, None, _("valore del motore"))
    start = _form(files, manifest.get("start_form"))
    for key, prop in ((start or {}).get("properties") or {}).items():
        found.add(key, prop if isinstance(prop, dict) else None, _("modulo di avvio"))
    spec, subprocess_specs = specs
    for meta in user_task_metas(spec, subprocess_specs).values():
        found.add(meta.bpmn_id, _form(files, meta.form), _("compito «%(t)s»") % {"t": meta.name})
        found.add(f"{meta.bpmn_id}_completed_by", None, _("compito «%(t)s»") % {"t": meta.name})
        found.add(f"{meta.bpmn_id}_completed_at", None, _("compito «%(t)s»") % {"t": meta.name})
    for task_spec in all_task_specs(specs):
        bpmn_id = getattr(task_spec, "bpmn_id", None) or ""
        if isinstance(task_spec, OutboxServiceTask) and task_spec.result_variable:
            found.add(task_spec.result_variable, None, _("risultato di «%(t)s»") % {"t": bpmn_id})
        script = getattr(task_spec, "script", None)
        if isinstance(script, str):
            for name in _assigned(script):
                found.add(name, None, _("script «%(t)s»") % {"t": bpmn_id})
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is not None:
            for column in engine.decision_table.outputs:
                if getattr(column, "name", None):
                    found.add(column.name, None, _("tabella decisionale «%(t)s»") % {"t": bpmn_id})
        definition = getattr(task_spec, "event_definition", None)
        if definition is not None and bpmn_id and _is_message(definition):
            found.add(bpmn_id, None, _("messaggio ricevuto da «%(t)s»") % {"t": bpmn_id})
    return found


def _is_message(definition: Any) -> bool:
    """A message event (its payload lands in the case data under the catching event's id)."""
    if type(definition).__name__.endswith("MessageEventDefinition"):
        return True
    return any(_is_message(inner) for inner in getattr(definition, "event_definitions", None) or [])


def _assigned(script: str) -> set[str]:
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and isinstance(leaf.ctx, ast.Store):
                    names.add(leaf.id)
    return names


# ---------------------------------------------------------------- one deed


def _docx_placeholders(data: bytes) -> dict[str, list[str]]:
    """Placeholder path -> the parts of the DOCX using it, with documents' own extraction (the one
    its upload check runs: docxtpl's patched XML, the sandboxed Jinja parser, loop variables mapped
    back to their list). Raises documents' TemplateRejected for an unreadable DOCX or bad syntax."""
    from docxtpl import DocxTemplate
    from jinja2.exceptions import TemplateSyntaxError

    from documents import sandbox
    from documents.errors import TemplateRejected
    from documents.templates import (
        check_docx_archive,
        part_label,
        template_paths_read,
        template_plain_sources,
    )

    check_docx_archive(data)
    try:
        tpl = DocxTemplate(io.BytesIO(data))
        tpl.init_docx()
        sources = template_plain_sources(tpl)
    except Exception as exc:  # python-docx raises many kinds on a broken package
        raise TemplateRejected(_("Il file non è un documento DOCX leggibile."), code="not_docx") from exc
    env = sandbox.SafeEnvironment()
    found: dict[str, list[str]] = {}
    for where, lines in sources:
        label = str(part_label(where))
        try:
            tree = env.parse("\n".join(lines))
        except TemplateSyntaxError as exc:
            line_no = exc.lineno or 1
            fragment = lines[line_no - 1].strip()[:200] if 0 < line_no <= len(lines) else ""
            raise TemplateRejected(
                _("Errore di sintassi nel modello (%(where)s) al paragrafo %(line)s: «%(fragment)s» (%(detail)s).")
                % {"where": label, "line": line_no, "fragment": fragment, "detail": exc.message},
                code="template_syntax") from exc
        used: set[str] = set()
        for child in tree.body:
            used |= template_paths_read(child)
        for path in used:
            parts = found.setdefault(path, [])
            if label not in parts:
                parts.append(label)
    return found


def _leaves(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _leaves(value, path + ".")
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            out += _leaves(value[0], path + "[].")
        else:
            out.append(path)
    return out


def _mapping_leaves(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_mapping_leaves(value, path + "."))
        else:
            out[path] = str(value)
    return out


def _deed_report(deed: Any, files: Mapping[str, str], data: ProcessData | None) -> DeedReport:
    import base64

    from documents.errors import TemplateRejected
    from documents.templates import SEAL_NAMES, data_schema_paths, template_path_allowed

    report = DeedReport(name=deed.name, title=deed.title, template=deed.template, fields_file=deed.fields_file,
                        mapping_file=deed.mapping_file)
    stored = files.get(deed.template, "")
    try:
        raw = base64.b64decode(stored.removeprefix("base64:")) if stored.startswith("base64:") else b""
        placeholders = _docx_placeholders(raw) if raw else None
    except TemplateRejected as exc:
        report.problems.append(Problem("error", exc.code or "template_rejected", str(exc.message)))
        placeholders = None
    except (ValueError, TypeError):
        placeholders = None
    if placeholders is None and not report.problems:
        report.problems.append(Problem("error", "template_missing",
                                       _("Il modello %(path)s manca o non è un file.") % {"path": deed.template}))
    fields = deed.fields or {}
    allowed = data_schema_paths(fields) | set(SEAL_NAMES)
    for path in sorted(placeholders or {}):
        known = template_path_allowed(path, allowed)
        report.placeholders.append(Placeholder(path=path, parts=placeholders[path], known=known))
        if not known:
            report.problems.append(Problem(
                "error", "unknown_placeholder",
                _("Il segnaposto «%(p)s» (%(where)s) non è tra i campi dell'atto (%(file)s).")
                % {"p": path.replace("[]", ""), "where": ", ".join(placeholders[path]), "file": deed.fields_file}))
    used = set(placeholders or {})
    for leaf in _leaves(fields):
        if placeholders is not None and not any(
                leaf == u or leaf.startswith(u + ".") or leaf.startswith(u + "[]") for u in used):
            report.problems.append(Problem("warning", "unused_field",
                                           _("Il campo «%(f)s» non è usato dal modello.") % {"f": leaf.replace("[]", "")}))
    if deed.mapping is None:
        report.problems.append(Problem("warning", "no_mapping",
                                       _("L'atto non ha una mappatura dei dati: i dati arrivano dal parametro «data» "
                                         "del compito di servizio.")))
        return report
    mapped = _mapping_leaves(deed.mapping)
    for leaf in _leaves(fields):
        top = leaf.split(".")[0].split("[]")[0]
        if top in LETTERHEAD_FIELDS:
            continue
        if not any(leaf == m or leaf.startswith(m + ".") or leaf.startswith(m + "[]") for m in mapped):
            report.problems.append(Problem("warning", "unmapped_field",
                                           _("Il campo «%(f)s» non è calcolato dalla mappatura (%(file)s): "
                                             "nell'atto sarà vuoto.") % {"f": leaf.replace("[]", ""),
                                                                         "file": deed.mapping_file}))
    if data is not None:
        for leaf, expression in sorted(mapped.items()):
            for problem in _expression_problems(expression, data):
                report.problems.append(Problem("error", problem[0], _("Mappatura di «%(f)s»: %(what)s")
                                               % {"f": leaf, "what": problem[1]}))
    return report


# ---------------------------------------------------------------- what a mapping expression reads


def _expression_problems(expression: str, data: ProcessData) -> list[tuple[str, str]]:
    from engine.sandbox import CALLABLE_NAMES

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the bundle validation reports syntax, with the sandbox's own words
    local: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            for leaf in ast.walk(node.target):
                if isinstance(leaf, ast.Name):
                    local.add(leaf.id)
        if isinstance(node, ast.Lambda):
            local |= {a.arg for a in node.args.args}
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            if name in local or name in CALLABLE_NAMES or name in ("True", "False", "None") or name in seen:
                continue
            seen.add(name)
            if name not in data.names:
                problems.append(("unknown_data", _("legge «%(n)s», che il processo non produce (né il modulo di "
                                                   "avvio, né un compito, un servizio, uno script o una "
                                                   "tabella decisionale).") % {"n": name}))
        if isinstance(node, ast.Subscript):
            problem = _subscript_problem(node, data)
            if problem and problem not in problems:
                problems.append(problem)
    return problems


def _subscript_problem(node: ast.Subscript, data: ProcessData) -> tuple[str, str] | None:
    """`registration["origin"]`, `declarants[0]["given_name"]`: follow constant keys through the
    form's schema; a key the form does not have is reported (only where the shape is known)."""
    chain: list[Any] = []
    current: ast.expr = node
    while isinstance(current, ast.Subscript):
        key = current.slice
        if not isinstance(key, ast.Constant):
            return None
        chain.append(key.value)
        current = current.value
    if not isinstance(current, ast.Name) or not isinstance(node.ctx, ast.Load):
        return None
    schema = data.names.get(current.id)
    path = current.id
    for key in reversed(chain):
        if not isinstance(schema, dict):
            return None
        if isinstance(key, int) and schema.get("type") == "array":
            schema = schema.get("items") if isinstance(schema.get("items"), dict) else None
            path += f"[{key}]"
            continue
        properties = schema.get("properties")
        if not isinstance(key, str) or not isinstance(properties, dict):
            return None
        if key not in properties and schema.get("additionalProperties") not in (None, False):
            return None  # the form takes other keys: nothing to say
        if key not in properties:
            return ("unknown_key", _("legge «%(path)s[\"%(key)s\"]», ma il modulo (%(origin)s) non ha il campo "
                                     "«%(key)s».") % {"path": path, "key": key, "origin": data.origins.get(current.id, "")})
        schema = properties[key]
        path += f'["{key}"]'
    return None
