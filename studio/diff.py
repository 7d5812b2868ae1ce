"""What changed between two bundles (two versions, or a version and a draft).

- BPMN elements matched by id (as SpiffWorkflow's own diff utilities and Camunda's migration do):
  added, removed, or changed with the list of properties that differ (name, lane, form, due date,
  operation and its parameters, scripts, conditions, timers, ...).
- Forms field by field (JSON Schema properties, nested ones as dotted paths, `required` included).
- Every other file: added, removed or changed, with a short line diff for text.

The XML is read with a parser that resolves no entities and fetches nothing, so a hostile draft
cannot read files or the network through the diff.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# Containers whose children with an id are "elements" (the diagram's shapes and edges).
_CONTAINERS = {"definitions", "process", "subProcess", "transaction", "adHocSubProcess", "laneSet", "collaboration"}
_NOT_ELEMENTS = {"laneSet", "extensionElements", "documentation", "ioSpecification", "dataObject"}
MAX_TEXT_DIFF_LINES = 200


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _text(node) -> str:
    return "".join(node.itertext()).strip() if node is not None else ""


@dataclass(frozen=True)
class Element:
    id: str
    type: str
    name: str
    file: str
    props: dict[str, str]


def bpmn_elements(text: str, *, file: str) -> dict[str, Element]:
    """Every identified element of a BPMN file with its comparable properties (empty if unreadable)."""
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_parser())
    except (etree.XMLSyntaxError, ValueError):
        return {}
    lanes: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN}}}lane"):
        for ref in lane.findall(f"{{{BPMN}}}flowNodeRef"):
            lanes[_text(ref)] = lane.get("name") or lane.get("id") or ""
    found: dict[str, Element] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN:
            continue
        kind = _local(node.tag)
        element_id = node.get("id")
        parent = node.getparent()
        if not element_id or kind in _NOT_ELEMENTS or parent is None or _local(parent.tag) not in _CONTAINERS:
            continue
        found[element_id] = Element(id=element_id, type=kind, name=node.get("name") or "", file=file,
                                    props=_properties(node, kind, lanes.get(element_id)))
    return found


def _properties(node, kind: str, lane: str | None) -> dict[str, str]:
    props: dict[str, str] = {"tipo": kind}
    for key, value in sorted(node.attrib.items()):
        name = _local(key) if key.startswith("{") else key
        if name != "id":
            props[name] = value
    if lane is not None:
        props["corsia"] = lane
    for child in node:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        if tag == "extensionElements":
            props.update(_extensions(child))
        elif tag in ("script", "conditionExpression", "documentation", "completionCondition"):
            props[tag] = _text(child)
        elif tag.endswith("EventDefinition"):
            props[f"evento:{tag}"] = " ".join(
                f"{_local(k)}={v}" for k, v in sorted(child.attrib.items()) if _local(k) != "id"
            ).strip() or "-"
            for timer in ("timeDate", "timeDuration", "timeCycle"):
                found = child.find(f"{{{BPMN}}}{timer}")
                if found is not None:
                    props[f"timer:{timer}"] = _text(found)
        elif tag in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
            props[tag] = " ".join(f"{k}={v}" for k, v in sorted(child.attrib.items())) or "-"
            for inner in child:
                if isinstance(inner.tag, str):
                    props[f"{tag}:{_local(inner.tag)}"] = _text(inner)
    return props


def _extensions(node) -> dict[str, str]:
    props: dict[str, str] = {}
    for child in node.iter():
        if not isinstance(child.tag, str) or etree.QName(child).namespace != SPIFF:
            continue
        tag = _local(child.tag)
        if tag == "property" and child.get("name"):
            props[child.get("name")] = child.get("value") or ""
        elif tag == "instructionsForEndUser":
            props["instructionsForEndUser"] = _text(child)
        elif tag == "serviceTaskOperator":
            props["operazione"] = child.get("id") or ""
            if child.get("resultVariable"):
                props["resultVariable"] = child.get("resultVariable") or ""
        elif tag == "parameter" and child.get("id"):
            props[f"parametro:{child.get('id')}"] = child.get("value") or ""
        elif tag in ("preScript", "postScript", "calledElement"):
            props[tag] = _text(child)
    return props


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"property": key, "before": before.get(key), "after": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _all_elements(files: Mapping[str, str]) -> dict[str, Element]:
    elements: dict[str, Element] = {}
    for path in sorted(files):
        if path.endswith(".bpmn"):
            for element_id, element in bpmn_elements(files[path], file=path).items():
                elements.setdefault(element_id, element)
    return elements


def element_diff(a: Mapping[str, str], b: Mapping[str, str]) -> list[dict[str, Any]]:
    old, new = _all_elements(a), _all_elements(b)
    rows = []
    for element_id in sorted(set(old) | set(new)):
        before, after = old.get(element_id), new.get(element_id)
        shown = after or before
        assert shown is not None
        row = {"id": element_id, "type": shown.type, "name": shown.name, "file": shown.file}
        if before is None:
            rows.append({**row, "status": "added", "changes": []})
        elif after is None:
            rows.append({**row, "status": "removed", "changes": []})
        elif before.props != after.props:
            rows.append({**row, "status": "changed", "changes": _changes(before.props, after.props)})
    return rows


# --------------------------------------------------------------------------- forms


def form_fields(text: str) -> dict[str, dict[str, Any]] | None:
    """Fields of a JSON Schema form by dotted path, each with its own keywords (None: not JSON)."""
    try:
        schema = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    fields: dict[str, dict[str, Any]] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 20:
            return
        required = set(node.get("required") or []) if isinstance(node.get("required"), list) else set()
        for key, prop in (node.get("properties") or {}).items() if isinstance(node.get("properties"), dict) else []:
            path = f"{prefix}{key}"
            own = {k: v for k, v in prop.items() if k not in ("properties", "items", "required")} \
                if isinstance(prop, dict) else {"schema": prop}
            own["required"] = key in required
            fields[path] = own
            if isinstance(prop, dict):
                walk(prop, f"{path}.", depth + 1)
                if isinstance(prop.get("items"), dict):
                    walk(prop["items"], f"{path}[].", depth + 1)

    walk(schema, "", 0)
    return fields


def _json_text(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(
        value, ensure_ascii=False, sort_keys=True)


def form_diff(a: Mapping[str, str], b: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    paths = sorted(p for p in set(a) | set(b) if p.startswith("forms/") and p.endswith(".json"))
    for path in paths:
        if a.get(path) == b.get(path):
            continue
        status = "added" if path not in a else "removed" if path not in b else "changed"
        old = form_fields(a.get(path, "{}")) or {}
        new = form_fields(b.get(path, "{}")) or {}
        fields = []
        for name in sorted(set(old) | set(new)):
            if name not in old:
                fields.append({"field": name, "status": "added", "changes": []})
            elif name not in new:
                fields.append({"field": name, "status": "removed", "changes": []})
            elif old[name] != new[name]:
                changes = [{**c, "before": _json_text(c["before"]), "after": _json_text(c["after"])}
                           for c in _changes(old[name], new[name])]
                fields.append({"field": name, "status": "changed", "changes": changes})
        rows.append({"file": path, "status": status, "fields": fields})
    return rows


# --------------------------------------------------------------------------- files


def file_status(a: Mapping[str, str], b: Mapping[str, str]) -> list[dict[str, str]]:
    rows = []
    for path in sorted(set(a) | set(b)):
        if path not in a:
            rows.append({"path": path, "status": "added"})
        elif path not in b:
            rows.append({"path": path, "status": "removed"})
        elif a[path] != b[path]:
            rows.append({"path": path, "status": "changed"})
    return rows


def text_diff(before: str | None, after: str | None, *, path: str) -> list[str]:
    """A unified diff of one text file (binary files: one line saying so), at most MAX_TEXT_DIFF_LINES."""
    if (before or "").startswith("base64:") or (after or "").startswith("base64:"):
        return ["(file binario modificato)"]
    lines = list(difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(),
                                      fromfile=f"a/{path}", tofile=f"b/{path}", lineterm="", n=2))
    if len(lines) > MAX_TEXT_DIFF_LINES:
        lines = lines[:MAX_TEXT_DIFF_LINES] + [f"… ({len(lines) - MAX_TEXT_DIFF_LINES} righe non mostrate)"]
    return lines


def bundle_diff(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, Any]:
    """Everything that changed from bundle `a` to bundle `b`."""
    elements = element_diff(a, b)
    forms = form_diff(a, b)
    files = file_status(a, b)
    return {"elements": elements, "forms": forms, "files": files, "summary": diff_summary_of(elements, forms, files)}


def diff_summary_of(elements, forms, files) -> dict[str, Any]:
    count = lambda rows, status: sum(1 for r in rows if r["status"] == status)  # noqa: E731
    return {
        "elements_added": [r["id"] for r in elements if r["status"] == "added"],
        "elements_removed": [r["id"] for r in elements if r["status"] == "removed"],
        "elements_changed": [r["id"] for r in elements if r["status"] == "changed"],
        "forms_changed": [r["file"] for r in forms],
        "files_added": count(files, "added"), "files_removed": count(files, "removed"),
        "files_changed": count(files, "changed"),
    }


def diff_summary(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, Any]:
    return bundle_diff(a, b)["summary"]
