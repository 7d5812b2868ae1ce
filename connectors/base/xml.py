"""Hardened XML parsing and XSD validation for every XML we receive or send.

No platform we integrate with (ANPR SOAP, PARER, segnatura) needs a DTD, so any
document carrying a DOCTYPE is refused outright: that closes XXE (external
entities), billion laughs (entity expansion) and DTD-based network fetches in one
rule, whatever libxml2's defaults become.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from django.utils.translation import gettext as _
from lxml import etree

from .errors import MalformedXml, UnsafeXml, XmlSchemaInvalid

MAX_XML_BYTES = 20 * 1024 * 1024
# ASCII-compatible encodings put the declaration in clear; UTF-16 documents are
# caught after parsing through docinfo.
_DOCTYPE_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def safe_parser() -> etree.XMLParser:
    """A parser that never resolves entities, loads a DTD or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML; raise `UnsafeXml` or `MalformedXml` (both permanent)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray):
        raise MalformedXml(_("Il documento XML non è leggibile."), details={"type": type(data).__name__})
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXml(
            _("Il documento XML supera la dimensione massima consentita."), details={"size": len(data)}
        )
    if _DOCTYPE_RE.search(data):
        raise UnsafeXml(
            _("Il documento XML contiene una dichiarazione DOCTYPE o ENTITY, non ammessa per sicurezza."),
            details={"reason": "doctype"},
        )
    try:
        root = etree.fromstring(bytes(data), parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedXml(_("Il documento XML non è ben formato: %(error)s") % {"error": exc}) from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml(
            _("Il documento XML contiene una dichiarazione DOCTYPE o ENTITY, non ammessa per sicurezza."),
            details={"reason": "doctype"},
        )
    return root


_schemas: dict[str, etree.XMLSchema] = {}
_schemas_lock = threading.Lock()
_validate_lock = threading.Lock()


def load_schema(xsd_path: str | Path) -> etree.XMLSchema:
    """Compile (once per process) an XSD shipped with the connectors (`connectors.base.specs`).

    The official schemas are trusted files; some (W3C xmldsig) declare internal
    entities in a DTD subset, so they are parsed with internal entities allowed
    but still without network access.
    """
    key = str(Path(xsd_path).resolve())
    with _schemas_lock:
        schema = _schemas.get(key)
        if schema is None:
            parser = etree.XMLParser(no_network=True, resolve_entities="internal", load_dtd=False, huge_tree=False)
            schema = etree.XMLSchema(etree.parse(key, parser=parser))
            _schemas[key] = schema
        return schema


def validation_errors(doc: etree._Element | etree._ElementTree, xsd_path: str | Path) -> list[str]:
    schema = load_schema(xsd_path)
    # An XMLSchema keeps one error_log: serialise its use across threads.
    with _validate_lock:
        if schema.validate(doc):
            return []
        return [f"line {e.line}: {e.message}" for e in schema.error_log]


def validate(doc: etree._Element | etree._ElementTree, xsd_path: str | Path) -> None:
    """Raise `XmlSchemaInvalid` (permanent) listing what breaks the schema."""
    errors = validation_errors(doc, xsd_path)
    if errors:
        raise XmlSchemaInvalid(
            _("Il documento XML non rispetta lo schema %(schema)s: %(error)s")
            % {"schema": Path(xsd_path).name, "error": errors[0]},
            details={"errors": errors[:20]},
        )


def to_bytes(doc: etree._Element, *, declaration: bool = True) -> bytes:
    return etree.tostring(doc, xml_declaration=declaration, encoding="UTF-8")
