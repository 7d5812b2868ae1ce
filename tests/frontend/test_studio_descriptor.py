"""The studio's moddle descriptor (frontend/studio/spiffworkflow.json) covers every spiffworkflow
extension element and attribute the shipped procedures use, so the modeler reads and writes them back
instead of dropping them as unknown XML; and the properties provider writes the property names the
engine reads. Plain Python over the JSON file: no Node needed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lxml import etree
from SpiffWorkflow.spiff.parser.task_spec import SPIFFWORKFLOW_NSMAP

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "frontend" / "studio" / "spiffworkflow.json"
PROVIDER = ROOT / "frontend" / "studio" / "provider" / "entries.js"
SPIFF = SPIFFWORKFLOW_NSMAP["spiffworkflow"]
BUILTINS = {"String", "Boolean", "Integer", "Real", "Element"}


def _descriptor() -> dict:
    return json.loads(DESCRIPTOR.read_text(encoding="utf-8"))


def _types() -> dict[str, dict]:
    return {t["name"]: t for t in _descriptor()["types"]}


def _tag_to_type(localname: str) -> str:
    # "xml": {"tagAlias": "lowerCase"}: <spiffworkflow:serviceTaskOperator> is type ServiceTaskOperator.
    return localname[:1].upper() + localname[1:]


def _properties(types: dict[str, dict], name: str) -> list[dict]:
    found = list(types[name].get("properties", []))
    for parent in types[name].get("superClass", []):
        if parent in types:
            found += _properties(types, parent)
    return found


def _used_elements() -> list[tuple[Path, etree._Element]]:
    used = []
    for path in sorted((ROOT / "processes").rglob("*.bpmn")):
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        used += [(path, node) for node in tree.iter(f"{{{SPIFF}}}*")]
    return used


def test_descriptor_is_the_spiffworkflow_namespace_with_lowercase_tags():
    descriptor = _descriptor()
    assert descriptor["prefix"] == "spiffworkflow"
    assert descriptor["uri"] == SPIFF
    assert descriptor["xml"] == {"tagAlias": "lowerCase"}
    types = _types()
    for type_ in types.values():
        for prop in type_.get("properties", []):
            assert prop["type"] in BUILTINS or prop["type"] in types, f"{type_['name']}.{prop['name']}: unknown type {prop['type']}"


def test_every_extension_element_used_by_the_procedures_is_described():
    types = _types()
    used = _used_elements()
    assert used, "the shipped procedures use spiffworkflow extensions"
    seen = set()
    for path, node in used:
        where = f"{path.relative_to(ROOT)}:{node.sourceline}"
        local = etree.QName(node).localname
        type_name = _tag_to_type(local)
        assert type_name in types, f"{where}: <spiffworkflow:{local}> has no type in {DESCRIPTOR.name}"
        seen.add(type_name)
        props = _properties(types, type_name)
        attrs = {p["name"] for p in props if p.get("isAttr")}
        for attribute in node.attrib:
            assert etree.QName(attribute).localname in attrs, f"{where}: attribute {attribute} of <{local}> not described"
        if (node.text or "").strip() and not len(node):
            assert any(p.get("isBody") for p in props), f"{where}: <{local}> has text but no isBody property"
        for child in node:
            if not isinstance(child.tag, str) or etree.QName(child).namespace != SPIFF:
                continue
            child_type = _tag_to_type(etree.QName(child).localname)
            assert any(p["type"] == child_type and not p.get("isAttr") for p in props), (
                f"{where}: <{local}> cannot contain <{etree.QName(child).localname}> in the descriptor")
        parent = node.getparent()
        if etree.QName(parent).namespace != SPIFF:
            # Directly under bpmn:extensionElements, whose values are moddle Elements.
            assert "Element" in types[type_name].get("superClass", []), f"{where}: {type_name} must extend Element"
    # What the engine reads through SpiffWorkflow's parser (task properties and instructions, service
    # operators with their parameters, decision tables) is described whether or not a procedure uses it.
    assert {"Properties", "Property", "InstructionsForEndUser", "ServiceTaskOperator", "Parameters", "Parameter",
            "CalledDecisionId"} <= set(types)
    assert seen


def test_the_provider_writes_the_task_properties_the_engine_reads():
    engine = (ROOT / "engine" / "bundles.py").read_text(encoding="utf-8")
    read = set(re.findall(r'props\.get\("([A-Za-z]+)"\)', engine))
    assert {"formJsonSchemaFilename", "formUiSchemaFilename", "dueDate", "notSameUserAs", "priority"} <= read
    provider = PROVIDER.read_text(encoding="utf-8")
    for name in read:
        assert f'"{name}"' in provider or f"{name}:" in provider, f"the properties provider never writes {name}"
