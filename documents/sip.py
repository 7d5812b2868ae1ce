"""PARER SIP ("indice SIP" of an UnitaDocumentaria) for a signed document.

The key of the documentary unit is the document's protocol registration when it has one
(number, year, register "PG"), else the case number within the procedure's register (e.g.
`2026/000042` -> number 000042, year 2026, register "PRATICHE"). The signed PDF is the main
document's only component, declared with its SHA-256 so PARER checks what it receives. Validated
against `parer/versReq/WSRequestVersamento.xsd` in tests (and by the PARER client before sending).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .models import Document

SIP_VERSION = "1.5"


def _sub(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
    element = etree.SubElement(parent, name)
    if text is not None:
        element.text = str(text)
    return element


def sip_key(document: Document) -> dict[str, str]:
    """(number, year, register) identifying the documentary unit at PARER."""
    entry = document.dossier_entries.exclude(protocol_number="").filter(protocol_date__isnull=False).first()
    if entry is not None:
        return {"number": entry.protocol_number, "year": str(entry.protocol_date.year), "registry": "PG"}
    if document.case_id is not None and "/" in (document.case.number or ""):
        year, number = document.case.number.split("/", 1)
        return {"number": number, "year": year, "registry": "PRATICHE"}
    return {"number": f"DOC{document.pk:09d}", "year": str(document.created_at.year), "registry": "DOCUMENTI"}


def build_sip(document: Document, *, credentials: dict[str, Any], typology: str = "ATTO ANAGRAFICO") -> bytes:
    """The SIP XML for `document`; `credentials` are the tenant's PARER ones (ambiente, ente,
    struttura, username)."""
    key = sip_key(document)
    root = etree.Element("UnitaDocumentaria")
    head = _sub(root, "Intestazione")
    _sub(head, "Versione", credentials.get("version") or SIP_VERSION)
    versatore = _sub(head, "Versatore")
    _sub(versatore, "Ambiente", credentials.get("ambiente", ""))
    _sub(versatore, "Ente", credentials.get("ente", ""))
    _sub(versatore, "Struttura", credentials.get("struttura", ""))
    _sub(versatore, "UserID", credentials.get("username", ""))
    chiave = _sub(head, "Chiave")
    _sub(chiave, "Numero", key["number"])
    _sub(chiave, "Anno", key["year"])
    _sub(chiave, "TipoRegistro", key["registry"])
    _sub(head, "TipologiaUnitaDocumentaria", typology)
    profile = _sub(root, "ProfiloUnitaDocumentaria")
    _sub(profile, "Oggetto", (document.title or document.kind)[:4000])
    _sub(profile, "Data", document.created_at.date().isoformat())
    _sub(profile, "Cartaceo", "false")
    main = _sub(root, "DocumentoPrincipale")
    _sub(main, "IDDocumento", f"DOC-{document.pk}")
    _sub(main, "TipoDocumento", document.kind.upper().replace("_", " ")[:100] or "DOCUMENTO")
    if document.signer:
        profile_doc = _sub(main, "ProfiloDocumento")
        _sub(profile_doc, "Descrizione", (document.title or document.kind)[:4000])
        _sub(profile_doc, "Autore", document.signer[:4000])
    structure = _sub(main, "StrutturaOriginale")
    components = _sub(structure, "Componenti")
    component = _sub(components, "Componente")
    _sub(component, "ID", component_id(document))
    _sub(component, "OrdinePresentazione", 1)
    _sub(component, "TipoComponente", "Contenuto")
    _sub(component, "TipoSupportoComponente", "FILE")
    _sub(component, "NomeComponente", document.filename[:254])
    _sub(component, "FormatoFileVersato", "PDF/A" if document.mime == "application/pdf" else document.mime)
    _sub(component, "HashVersato", document.sha256)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def component_id(document: Document) -> str:
    return f"COMP-{document.pk}"
