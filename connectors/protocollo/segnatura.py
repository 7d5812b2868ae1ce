"""AgID "segnatura di protocollo" 3.0.0 (Linee guida documento informatico, Allegato 6).

`build_segnatura` produces the XML for a registered message (incoming or
outgoing), sealed (ds:Signature, required by the schema) and validated against
protocollo/segnatura_protocollo.xsd. `parse_segnatura` reads one received from
another administration, with the hardened parser.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree

from ..base.errors import InvalidRequest
from ..base.specs import spec_path
from ..base.xml import parse_xml, validate
from .seal import sign_enveloped

NS = "http://www.agid.gov.it/protocollo/"
XSD = "protocollo/schemas/segnatura_protocollo.xsd"
P = f"{{{NS}}}"


@dataclass(frozen=True)
class Administration:
    name: str
    ipa_code: str
    aoo_code: str
    registry_code: str = "PG"
    fiscal_code: str = ""
    pec: str = ""


@dataclass(frozen=True)
class Correspondent:
    """A person (first/last name, fiscal code), an organisation (name) or another administration (ipa_code)."""

    kind: str  # person | organization | administration
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    fiscal_code: str = ""
    ipa_code: str = ""
    pec: str = ""

    @classmethod
    def from_params(cls, value: Any) -> Correspondent:
        if isinstance(value, str) and value.strip():
            return cls(kind="organization", name=value.strip())
        if not isinstance(value, dict):
            raise InvalidRequest(_("Corrispondente mancante."), details={"correspondent": ["required"]})
        kind = value.get("type") or ("person" if value.get("last_name") else
                                     "administration" if value.get("ipa_code") else "organization")
        c = cls(kind=kind, name=str(value.get("name") or ""), first_name=str(value.get("first_name") or ""),
                last_name=str(value.get("last_name") or ""), fiscal_code=str(value.get("fiscal_code") or "").upper(),
                ipa_code=str(value.get("ipa_code") or ""), pec=str(value.get("pec") or ""))
        if kind == "person" and not (c.first_name and c.last_name):
            raise InvalidRequest(_("Per una persona fisica servono nome e cognome."),
                                 details={"correspondent": ["first_name", "last_name"]})
        if kind in ("organization", "administration") and not c.name:
            raise InvalidRequest(_("Manca la denominazione del corrispondente."), details={"correspondent": ["name"]})
        if kind not in ("person", "organization", "administration"):
            raise InvalidRequest(_("Tipo di corrispondente non valido."), details={"correspondent": [kind]})
        return c


@dataclass(frozen=True)
class Document:
    filename: str
    sha256_b64: str
    mime_type: str = "application/pdf"
    description: str = ""

    @classmethod
    def from_params(cls, value: dict[str, Any], *, what: str = "document") -> Document:
        digest = str(value.get("sha256") or "").strip()
        filename = str(value.get("filename") or "").strip()
        if re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            digest = base64.b64encode(binascii.unhexlify(digest)).decode()
        elif not re.fullmatch(r"[A-Za-z0-9+/]{43}=", digest):
            raise InvalidRequest(_("Impronta SHA-256 del documento non valida."), details={what: ["sha256"]})
        if not filename:
            raise InvalidRequest(_("Manca il nome del file del documento."), details={what: ["filename"]})
        return cls(filename=filename, sha256_b64=digest, mime_type=str(value.get("mime_type") or "application/pdf"),
                   description=str(value.get("description") or ""))


@dataclass(frozen=True)
class Registration:
    number: str  # at least 7 digits
    date: dt.date
    time: dt.time | None = None


@dataclass
class SegnaturaData:
    direction: str  # "in" | "out"
    administration: Administration
    registration: Registration
    subject: str
    correspondent: Correspondent
    primary: Document
    attachments: list[Document] = field(default_factory=list)
    classification: tuple[str, str] = ("Anagrafe e certificazioni", "XI.2")
    dossier: tuple[str, str] | None = None  # (denominazione, codice fascicolo)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    # The schema says attributeFormDefault="qualified": attributes live in the prot namespace too.
    el = etree.SubElement(parent, P + tag, {P + k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = text
    return el


def _ipa(parent: etree._Element, tag: str, code: str, description: str = "") -> None:
    _sub(parent, tag, code, descrizione=description)


def _pec_contacts(parent: etree._Element, tag: str, pec: str) -> None:
    if pec:
        contacts = _sub(parent, tag)
        _sub(contacts, "IndirizzoTelematico", pec, tipo="smtp")


def _our_administration(parent: etree._Element, adm: Administration) -> None:
    el = _sub(parent, "Amministrazione")
    _sub(el, "DenominazioneAmministrazione", adm.name)
    if re.fullmatch(r"\d{11}", adm.fiscal_code):
        _sub(el, "CFAmministrazione", adm.fiscal_code)
    _ipa(el, "CodiceIPAAmministrazione", adm.ipa_code, adm.name)
    _ipa(el, "CodiceIPAAOO", adm.aoo_code)
    _pec_contacts(el, "ContattiAOO", adm.pec)


def _correspondent(parent: etree._Element, c: Correspondent) -> None:
    if c.kind == "person":
        el = _sub(parent, "PersonaFisica")
        _sub(el, "Nome", c.first_name)
        _sub(el, "Cognome", c.last_name)
        if c.fiscal_code:
            _sub(el, "CodiceFiscale", c.fiscal_code)
        _pec_contacts(el, "Contatti", c.pec)
    elif c.kind == "administration":
        el = _sub(parent, "Amministrazione")
        _sub(el, "DenominazioneAmministrazione", c.name)
        _ipa(el, "CodiceIPAAmministrazione", c.ipa_code or "-", c.name)
        _pec_contacts(el, "ContattiAmministrazione", c.pec)
    else:
        el = _sub(parent, "PersonaGiuridica")
        _sub(el, "Denominazione", c.name)
        if re.fullmatch(r"\d{11}", c.fiscal_code):
            _sub(el, "PIVAoCF", c.fiscal_code)
        _pec_contacts(el, "ContattiPersonaGiuridica", c.pec)


def _document(parent: etree._Element, tag: str, doc: Document) -> None:
    el = _sub(parent, tag, nomeFile=doc.filename, mimeType=doc.mime_type)
    if doc.description:
        _sub(el, "Descrizione", doc.description)
    _sub(el, "Impronta", doc.sha256_b64, algoritmo="SHA-256")


def build_unsigned(data: SegnaturaData) -> etree._Element:
    if data.direction not in ("in", "out"):
        raise InvalidRequest(_("Verso di protocollo non valido (in/out)."), details={"direction": [data.direction]})
    if not re.fullmatch(r"\d{7,}", data.registration.number):
        raise InvalidRequest(_("Numero di protocollo non valido."), details={"number": [data.registration.number]})
    root = etree.Element(P + "SegnaturaInformatica", {P + "versione": "3.0.0", P + "lang": "it"}, nsmap={"prot": NS})
    head = _sub(root, "Intestazione")
    ident = _sub(head, "Identificatore")
    adm = data.administration
    _ipa(ident, "CodiceAmministrazione", adm.ipa_code)
    _ipa(ident, "CodiceAOO", adm.aoo_code)
    _sub(ident, "CodiceRegistro", adm.registry_code)
    _sub(ident, "NumeroRegistrazione", data.registration.number)
    _sub(ident, "DataRegistrazione", data.registration.date.isoformat())
    if data.registration.time is not None:
        _sub(ident, "OraRegistrazione", data.registration.time.replace(microsecond=0).isoformat())
    _sub(head, "Oggetto", data.subject)
    classification = _sub(head, "Classifica")
    _sub(classification, "Denominazione", data.classification[0])
    _sub(classification, "CodiceFlat", data.classification[1])
    if data.dossier:
        dossier = _sub(head, "Fascicolo")
        _sub(dossier, "Denominazione", data.dossier[0])
        _sub(dossier, "CodiceFascicolo", data.dossier[1])
    description = _sub(root, "Descrizione")
    sender = _sub(description, "Mittente")
    recipient = _sub(description, "Destinatario")
    if data.direction == "out":
        _our_administration(sender, adm)
        _correspondent(recipient, data.correspondent)
    else:
        _correspondent(sender, data.correspondent)
        _our_administration(recipient, adm)
    _document(description, "DocumentoPrimario", data.primary)
    for attachment in data.attachments:
        _document(description, "Allegato", attachment)
    return root


def build_segnatura(data: SegnaturaData, *, key_pem: bytes, cert_pem: bytes) -> bytes:
    root = sign_enveloped(build_unsigned(data), key_pem=key_pem, cert_pem=cert_pem)
    validate(root, spec_path(XSD))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def parse_segnatura(data: bytes) -> dict[str, Any]:
    """Read a received segnatura: hardened parse, schema validation, the fields a case needs."""
    root = parse_xml(data)
    validate(root, spec_path(XSD))
    ns = {"p": NS}
    ident = root.find("p:Intestazione/p:Identificatore", ns)
    return {
        "administration_ipa": ident.findtext("p:CodiceAmministrazione", namespaces=ns),
        "aoo": ident.findtext("p:CodiceAOO", namespaces=ns),
        "registry": ident.findtext("p:CodiceRegistro", namespaces=ns),
        "number": ident.findtext("p:NumeroRegistrazione", namespaces=ns),
        "date": ident.findtext("p:DataRegistrazione", namespaces=ns),
        "subject": root.findtext("p:Intestazione/p:Oggetto", namespaces=ns),
        "primary_filename": root.find("p:Descrizione/p:DocumentoPrimario", ns).get(P + "nomeFile"),
        "primary_sha256": root.findtext("p:Descrizione/p:DocumentoPrimario/p:Impronta", namespaces=ns),
    }
