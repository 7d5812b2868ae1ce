"""Server-side forms from a task's JSON Schema and UI schema.

`build_fields` turns schema + ui schema + current values + errors into a list of
field descriptions for the templates; `parse_post` turns the submitted form back
into JSON data of the right types. Dates are shown and typed in the Italian
format (GG/MM/AAAA) and stored as ISO. A string with `"format": "municipality"` is a
municipality picker (ANPR's archive: a name, "Name (PR)", the ISTAT or Belfiore code are
understood; the ISTAT code is stored; see forms/municipalities.py). Repeated groups (arrays of objects) are
rendered with a fixed number of rows (existing + 1 empty).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from common import jsondepth


@dataclass
class Field:
    name: str  # form input name (dotted path: declarants.0.fiscal_code)
    label: str
    widget: str  # text | textarea | number | integer | date | select | radio | checkbox | email | municipality | file | object | group
    required: bool = False
    help: str = ""
    value: Any = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    max_length: int | None = None
    rows: list[list[Field]] = field(default_factory=list)  # for groups
    accept_types: list[str] = field(default_factory=list)  # file fields: pdf, jpeg, png, tiff
    max_bytes: int | None = None

    @property
    def accept(self) -> str:
        extensions = {"pdf": ".pdf", "jpeg": ".jpg,.jpeg", "png": ".png", "tiff": ".tif,.tiff"}
        return ",".join(extensions.get(t, "") for t in self.accept_types if t in extensions)

    @property
    def accept_label(self) -> str:
        return ", ".join(t.upper() for t in (self.accept_types or ["pdf", "jpeg", "png", "tiff"]))

    @property
    def max_mb(self) -> int:
        return max(1, (self.max_bytes or 10 * 1024 * 1024) // (1024 * 1024))

    @property
    def value_json(self) -> str:
        return json.dumps(self.value, ensure_ascii=False) if self.value is not None else ""

    @property
    def input_id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def display_value(self) -> str:
        if self.value is None:
            return ""
        if self.widget == "file" and isinstance(self.value, dict):
            return str(self.value.get("name", ""))
        if self.widget == "municipality" and isinstance(self.value, str) and self.value.isdigit():
            from .municipalities import label_for

            label = label_for(self.value)
            return f"{label} · {self.value}" if label != self.value else self.value
        if self.widget == "date" and isinstance(self.value, str):
            try:
                return dt.date.fromisoformat(self.value).strftime("%d/%m/%Y")
            except ValueError:
                return self.value
        return str(self.value)


def _ordered(properties: dict[str, Any], ui: dict[str, Any]) -> list[str]:
    # A field marked "x-platform-only" is set by the system only (cases.services._refuse_platform_only): no input.
    shown = {k for k, prop in properties.items() if not (isinstance(prop, dict) and prop.get("x-platform-only"))}
    order = [k for k in ui.get("ui:order", []) if k in shown]
    return order + [k for k in properties if k not in order and k in shown]


def _widget(schema: dict[str, Any], ui: dict[str, Any]) -> str:
    if ui.get("ui:widget") in ("textarea", "radio", "date", "select", "checkbox"):
        return ui["ui:widget"]
    kind = schema.get("type")
    if schema.get("format") == "file":
        return "file"
    if "enum" in schema:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if schema.get("format") == "date":
        return "date"
    if schema.get("format") == "email":
        return "email"
    if schema.get("format") == "municipality":
        return "municipality"
    if kind == "array" and schema.get("items", {}).get("type") == "object":
        return "group"
    if kind == "object":
        return "object"
    if (schema.get("maxLength") or 0) > 300:
        return "textarea"
    return "text"


def build_fields(
    schema: dict[str, Any],
    ui: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    prefix: str = "",
) -> list[Field]:
    ui = ui or {}
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required", []))
    fields = []
    for key in _ordered(schema.get("properties", {}), ui):
        prop = schema["properties"][key]
        prop_ui = ui.get(key, {})
        name = f"{prefix}{key}"
        widget = _widget(prop, prop_ui)
        f = Field(
            name=name,
            label=prop.get("title", key),
            widget=widget,
            required=key in required,
            help=prop_ui.get("ui:help", prop.get("description", "")),
            value=values.get(key),
            errors=errors.get(name, []),
            max_length=prop.get("maxLength"),
        )
        if widget == "file":
            f.accept_types = list(prop.get("x-accept") or [])
            f.max_bytes = prop.get("x-max-bytes")
        if "enum" in prop:
            names = prop_ui.get("ui:enumNames") or [str(v) for v in prop["enum"]]
            f.choices = [(str(v), str(n)) for v, n in zip(prop["enum"], names, strict=False)]
        if widget == "object":
            f.rows = [build_fields(prop, prop_ui, values.get(key) or {}, errors, f"{name}.")]
        if widget == "group":
            items = values.get(key) or []
            count = max(len(items), 1) + (1 if items else 0)
            item_schema = prop["items"]
            f.rows = [
                build_fields(item_schema, prop_ui.get("items", {}), items[i] if i < len(items) else {}, errors, f"{name}.{i}.")
                for i in range(min(count, prop.get("maxItems", 20)))
            ]
        fields.append(f)
    return fields


def _coerce(raw: str, prop: dict[str, Any]) -> Any:
    raw = raw.strip()
    kind = prop.get("type")
    if raw == "":
        return None
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw  # left for the schema to report as a wrong type
    if kind == "number":
        try:
            return float(raw.replace(",", "."))
        except ValueError:
            return raw
    if prop.get("format") == "municipality":
        from .municipalities import resolve

        found = resolve(raw)
        return found.istat_code if found is not None else raw  # unknown: the schema's format reports it
    if prop.get("format") == "date":
        for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(raw, fmt).date().isoformat()
            except ValueError:
                continue
        return raw
    if kind == "boolean":
        return raw in ("true", "on", "1", "si", "sì")
    if isinstance(prop.get("enum"), list):
        for option in prop["enum"]:
            if str(option) == raw:
                return option
    return raw


def parse_post(schema: dict[str, Any], post: QueryDict, prefix: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, prop in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            rows = []
            for i in range(prop.get("maxItems", 20)):
                row = parse_post(prop["items"], post, f"{name}.{i}.")
                if row:
                    rows.append(row)
            if rows or name + ".0." in "".join(post.keys()):
                data[key] = rows
            continue
        if prop.get("type") == "boolean" and _widget(prop, {}) == "checkbox":
            if post.get(name) is not None:
                data[key] = True
            elif post.get(name + "__present") is not None:
                data[key] = False
            continue
        if prop.get("type") == "object" and prop.get("format") != "file":
            sub = parse_post(prop, post, f"{name}.")
            if sub:
                data[key] = sub
            continue
        if prop.get("format") == "file":
            # The file itself comes through `file_fields`/the view; a kept upload is referenced by id.
            kept = post.get(name + "__kept")
            if kept:
                try:
                    data[key] = jsondepth.loads(kept)
                except ValueError:
                    pass
            continue
        raw = post.get(name)
        if raw is None:
            continue
        value = _coerce(raw, prop)
        if value is not None:
            data[key] = value
    return data


def file_fields(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Input name -> property schema of every `"format": "file"` field (top level and nested objects).

    A file field's schema: {"type": "object", "format": "file", "x-accept": ["pdf", "jpeg", "png"],
    "x-max-bytes": 10485760}; its stored value is {"document_id", "name", "media_type", "size", "sha256"}.
    """
    found: dict[str, dict[str, Any]] = {}
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if prop.get("format") == "file":
            found[f"{prefix}{key}"] = prop
        elif prop.get("type") == "object":
            found.update(file_fields(prop, f"{prefix}{key}."))
    return found


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value
