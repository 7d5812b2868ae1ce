"""The form editor's live preview and its palette of Italian widgets.

`form_preview` renders {schema, ui_schema, data} with the product's own server-side renderer
(forms/rendering.py `build_fields` + the task page's field template cases/_field.html), so the
admin sees exactly what operators and citizens will see. Whatever the admin types, the answer is
{"html", "errors"}: an invalid JSON Schema, a UI schema of the wrong shape, a form too large or
too deep are Italian errors, never an exception. The HTML is the renderer's autoescaped output.

`WIDGETS` is the palette (GET /studio/widget/): each entry a property name, its JSON Schema and
its UI schema, ready to paste into a form.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from common import jsondepth

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # a request: schema + ui schema + sample data
MAX_DEPTH = 32  # nesting of any of the three documents
MAX_FIELDS = 1_000  # inputs the preview renders (groups repeat their rows)
MAX_ERRORS = 50


@dataclass
class Preview:
    html: str = ""
    errors: list[str] = field(default_factory=list)
    data_errors: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"html": self.html, "errors": self.errors[:MAX_ERRORS], "data_errors": self.data_errors}


def parse_request(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON body of a preview request, or an Italian reason why not."""
    if len(body) > MAX_BODY_BYTES:
        return None, _("Il modulo è troppo grande per l'anteprima (al massimo %(kb)s KB).") % {"kb": MAX_BODY_BYTES // 1024}
    if jsondepth.too_deep(body, MAX_DEPTH + 2):
        return None, _("Il modulo è annidato troppo in profondità (al massimo %(n)s livelli).") % {"n": MAX_DEPTH}
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, _("La richiesta non è un JSON valido.")
    if not isinstance(payload, dict):
        return None, _("La richiesta deve essere un oggetto JSON con «schema», «ui_schema» e «data».")
    return payload, None


def form_preview(schema: Any, ui_schema: Any = None, data: Any = None) -> Preview:
    """Render a form the way a task page does; problems come back as Italian sentences."""
    preview = Preview()
    preview.errors = schema_problems(schema)
    ui_schema = {} if ui_schema is None else ui_schema
    data = {} if data is None else data
    preview.errors += ui_problems(ui_schema, schema if isinstance(schema, dict) else {})
    if not isinstance(data, dict):
        preview.errors.append(_("I dati di esempio devono essere un oggetto JSON."))
    if preview.errors:
        return preview
    count = _count_inputs(schema, data)
    if count > MAX_FIELDS:
        preview.errors.append(_("Il modulo ha troppi campi per l'anteprima (%(n)s, al massimo %(max)s).")
                              % {"n": count, "max": MAX_FIELDS})
        return preview
    from forms.rendering import build_fields
    from forms.validation import validate_data

    try:
        if data:
            # `pattern` is checked apart, with a time limit: an admin's regular expression must not
            # hold a web worker (catastrophic backtracking); the rest by the product's own validator.
            preview.data_errors = validate_data(json.dumps(_without_patterns(schema), sort_keys=True), data)
            preview.errors += _pattern_problems(schema, data, "", preview.data_errors)
        fields = build_fields(schema, ui_schema, data, preview.data_errors)
        preview.html = render_to_string("studio/tools_form_fields.html", {"fields": fields, "can_act": True})
    except Exception:  # noqa: BLE001 - a shape the checks above did not foresee: an error, never a 500
        logger.warning("studio form preview failed", exc_info=True)
        preview.errors.append(_("Il modulo non si può mostrare: controlla la struttura dello schema e dello schema UI."))
        preview.html = ""
    return preview


# ---------------------------------------------------------------- checks


PATTERN_SECONDS = 0.05


def _without_patterns(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_patterns(v) for k, v in schema.items() if not (k == "pattern" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_without_patterns(v) for v in schema]
    return schema


def _pattern_problems(schema: dict[str, Any], data: Any, prefix: str, errors: dict[str, list[str]]) -> list[str]:
    """Check the sample data against each field's `pattern` with the `regex` module's time limit;
    a mismatch is a field error (as forms/validation.py says it), a timeout a problem of the schema."""
    import regex

    problems: list[str] = []
    if not isinstance(data, dict):
        return problems
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict) or key not in data:
            continue
        value, name = data[key], f"{prefix}{key}"
        if isinstance(value, str) and isinstance(prop.get("pattern"), str):
            try:
                if regex.search(prop["pattern"], value, timeout=PATTERN_SECONDS) is None:
                    errors.setdefault(name, []).append(_("Formato non valido."))
            except TimeoutError:
                problems.append(_("Il «pattern» del campo «%(name)s» richiede troppo tempo per essere verificato "
                                  "(espressione regolare con ripetizioni annidate): semplificalo.") % {"name": name})
            except regex.error:
                problems.append(_("Il «pattern» del campo «%(name)s» non è un'espressione regolare valida.")
                                % {"name": name})
        elif isinstance(value, dict):
            problems += _pattern_problems(prop, value, f"{name}.", errors)
        elif isinstance(value, list) and isinstance(prop.get("items"), dict):
            for index, item in enumerate(value):
                problems += _pattern_problems(prop["items"], item, f"{name}.{index}.", errors)
    return problems


def _pointer(path: Any) -> str:
    return "/".join(str(p) for p in path) or _("radice")


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` is not a form our renderer can show: JSON Schema validity (draft 2020-12, the
    validator the engine uses) and the shape the renderer reads (an object with properties)."""
    if not isinstance(schema, dict):
        return [_("Lo schema del modulo deve essere un oggetto JSON.")]
    problems: list[str] = []
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        problems.append(_("Lo schema JSON non è valido in «%(where)s»: %(what)s")
                        % {"where": _pointer(exc.path), "what": _schema_error(exc)})
        return problems
    except Exception:  # noqa: BLE001 - e.g. a regex the checker cannot compile
        return [_("Lo schema JSON non è valido.")]
    if schema.get("type") != "object":
        problems.append(_("Lo schema del modulo deve avere \"type\": \"object\"."))
    if not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        problems.append(_("Lo schema del modulo deve elencare i campi in \"properties\"."))
    else:
        _shape(schema, "", problems)
    from engine.bundles import file_field_problems  # the same file-field rule sync_processes applies

    problems += [_("Campo file non valido: %(what)s") % {"what": p.split(": ", 1)[-1]}
                 for p in file_field_problems(schema, "modulo")]
    return problems


def _shape(schema: dict[str, Any], prefix: str, problems: list[str]) -> None:
    """Every property the renderer walks must be a schema object (a bare `true` is valid JSON
    Schema but not a field), and a repeated group's items an object schema."""
    for key, prop in (schema.get("properties") or {}).items():
        name = f"{prefix}{key}"
        if not isinstance(prop, dict):
            problems.append(_("Il campo «%(name)s» deve essere un oggetto con almeno \"type\".") % {"name": name})
            continue
        if "enum" in prop and not prop["enum"]:
            problems.append(_("Il campo «%(name)s» ha un elenco di valori vuoto.") % {"name": name})
        if prop.get("type") == "object" and prop.get("format") != "file":
            _shape(prop, f"{name}.", problems)
        if prop.get("type") == "array":
            items = prop.get("items")
            if isinstance(items, dict) and items.get("type") == "object":
                _shape(items, f"{name}[].", problems)


def _schema_error(exc: SchemaError) -> str:
    """An Italian reading of the meta-schema's complaint (the English text kept as detail)."""
    kind = exc.validator
    if kind == "type":
        expected = exc.validator_value if isinstance(exc.validator_value, str) else ", ".join(map(str, exc.validator_value))
        return _("tipo di valore sbagliato (atteso: %(expected)s).") % {"expected": expected}
    if kind in ("enum", "anyOf"):
        return _("valore non ammesso (%(detail)s).") % {"detail": exc.message[:200]}
    if kind in ("minimum", "minItems", "minLength"):
        return _("valore troppo piccolo (%(detail)s).") % {"detail": exc.message[:200]}
    if kind == "uniqueItems":
        return _("elementi ripetuti (%(detail)s).") % {"detail": exc.message[:200]}
    if kind == "format":
        return _("formato non valido (%(detail)s).") % {"detail": exc.message[:200]}
    return _("non rispetta JSON Schema (%(detail)s).") % {"detail": exc.message[:200]}


UI_WIDGETS = {"textarea", "radio", "date", "select", "checkbox", "text", "email", "hidden", "updown", "password",
              "file", "municipality"}


def ui_problems(ui: Any, schema: dict[str, Any], prefix: str = "") -> list[str]:
    """The UI schema's shape: an object; per field an object; `ui:order` a list of names;
    `ui:widget`/`ui:help` text; `ui:enumNames` a list of texts."""
    if not isinstance(ui, dict):
        return [_("Lo schema UI deve essere un oggetto JSON.")]
    problems: list[str] = []
    order = ui.get("ui:order")
    if order is not None and (not isinstance(order, list) or not all(isinstance(x, str) for x in order)):
        problems.append(_("«ui:order» deve essere un elenco di nomi di campo."))
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for key, value in ui.items():
        where = f"{prefix}{key}"
        if key.startswith("ui:"):
            if key in ("ui:widget", "ui:help", "ui:title", "ui:placeholder", "ui:description") and not isinstance(value, str):
                problems.append(_("«%(key)s» deve essere un testo.") % {"key": where})
            if key == "ui:enumNames" and (not isinstance(value, list) or not all(isinstance(x, str | int | float) for x in value)):
                problems.append(_("«%(key)s» deve essere un elenco di testi.") % {"key": where})
            continue
        if not isinstance(value, dict):
            problems.append(_("Lo schema UI del campo «%(name)s» deve essere un oggetto.") % {"name": where})
            continue
        prop = properties.get(key)
        if isinstance(prop, dict):
            if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
                items_ui = value.get("items", {})
                problems += ui_problems({k: v for k, v in value.items() if k != "items"}, {}, f"{where}.")
                problems += ui_problems(items_ui, prop["items"], f"{where}[].")
            else:
                problems += ui_problems(value, prop, f"{where}.")
    return problems


def _count_inputs(schema: dict[str, Any], data: Any) -> int:
    """How many inputs build_fields will make: a group shows its rows plus an empty one."""
    total = 0
    data = data if isinstance(data, dict) else {}
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        total += 1
        if prop.get("type") == "object" and prop.get("format") != "file":
            total += _count_inputs(prop, data.get(key))
        elif prop.get("type") == "array" and isinstance(prop.get("items"), dict) and prop["items"].get("type") == "object":
            rows = data.get(key) if isinstance(data.get(key), list) else []
            shown = min(max(len(rows), 1) + (1 if rows else 0), int(prop.get("maxItems", 20)))
            for i in range(shown):
                total += _count_inputs(prop["items"], rows[i] if i < len(rows) else {})
                if total > MAX_FIELDS:
                    return total
        if total > MAX_FIELDS:
            return total
    return total


# ---------------------------------------------------------------- the palette


@dataclass(frozen=True)
class Widget:
    id: str
    label: Any
    help: Any
    name: str  # the property name it suggests (fiscal_code: the checksum check applies to *fiscal_code)
    schema: dict[str, Any]
    ui: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": str(self.label), "help": str(self.help), "name": self.name,
                "schema": self.schema, "ui": self.ui}


WIDGETS: tuple[Widget, ...] = (
    Widget("date", gettext_lazy("Data"), gettext_lazy("Una data, scritta GG/MM/AAAA e salvata AAAA-MM-GG."),
           "date", {"type": "string", "format": "date", "title": "Data"}, {"ui:help": "GG/MM/AAAA"}),
    Widget("fiscal_code", gettext_lazy("Codice fiscale"),
           gettext_lazy("16 caratteri con il carattere di controllo verificato (il nome del campo deve finire con "
                        "«fiscal_code»)."),
           "fiscal_code",
           {"type": "string", "title": "Codice fiscale", "minLength": 16, "maxLength": 16,
            "pattern": "^[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z]"
                       "[0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z]$"},
           {"ui:help": "16 caratteri, es. RSSMRA80A01H501U"}),
    Widget("municipality", gettext_lazy("Comune"),
           gettext_lazy("Scelta del comune dall'archivio ANPR (nome, sigla della provincia, codice ISTAT o "
                        "catastale); si salva il codice ISTAT."),
           "municipality_istat", {"type": "string", "format": "municipality", "title": "Comune"}, {}),
    Widget("file", gettext_lazy("Allegato"),
           gettext_lazy("Un file controllato sul contenuto (PDF, JPEG, PNG, TIFF) con una dimensione massima."),
           "attachment",
           {"type": "object", "format": "file", "title": "Allegato", "x-accept": ["pdf", "jpeg", "png"],
            "x-max-bytes": 10 * 1024 * 1024},
           {}),
    Widget("email", gettext_lazy("Email"), gettext_lazy("Un indirizzo email (anche PEC)."), "email",
           {"type": "string", "format": "email", "title": "Email", "maxLength": 254}, {}),
    Widget("select", gettext_lazy("Scelta da elenco"),
           gettext_lazy("Uno tra i valori elencati; «ui:enumNames» dà le etichette mostrate."), "choice",
           {"type": "string", "title": "Scelta", "enum": ["a", "b"]},
           {"ui:widget": "select", "ui:enumNames": ["Prima opzione", "Seconda opzione"]}),
)


def palette() -> dict[str, Any]:
    return {"widgets": [w.as_json() for w in WIDGETS]}
