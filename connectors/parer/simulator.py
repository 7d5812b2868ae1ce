"""PARER/SACER simulator for `/VersamentoSync`: checks credentials, the SIP against the request XSD and
the files against the declared components; answers `EsitoVersamento` per the response XSD."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from lxml import etree
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from common import clock

from ..base.errors import MalformedXml, UnsafeXml
from ..base.simulator import SimulatorApp
from ..base.specs import spec_path
from ..base.xml import parse_xml, validation_errors
from .client import REQUEST_XSD

SUPPORTED_VERSIONS = {"1.3", "1.4", "1.5"}


def _el(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


class ParerSimulator(SimulatorApp):
    platform = "parer"

    def __init__(self, *, users: dict[str, str] | None = None) -> None:
        self.users = users or {"demo_user": "demo-parer-pw"}
        super().__init__()

    def rules(self) -> list[Rule]:
        return [Rule("/VersamentoSync", endpoint="deposit", methods=["POST"])]

    def reset(self) -> None:
        super().reset()
        self.deposits: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def on_deposit(self, request: Request) -> Response:
        form, files = request.form, request.files
        version = form.get("VERSIONE", "")
        credentials_ok = self.users.get(form.get("LOGINNAME", "")) == form.get("PASSWORD")
        esito = {"version_ok": version in SUPPORTED_VERSIONS, "credentials_ok": credentials_ok,
                 "files_ok": True, "xsd_ok": True, "xsd_message": None}
        if not esito["version_ok"]:
            return self._answer(esito, "NEGATIVO", "WS-001-001", f"Versione {version!r} non supportata", version)
        if not credentials_ok:
            return self._answer(esito, "NEGATIVO", "USR-001-001", "Credenziali dell'operatore non valide", version)
        try:
            sip = parse_xml(form.get("XMLSIP", "").encode("utf-8"))
        except (UnsafeXml, MalformedXml) as exc:
            esito.update(xsd_ok=False, xsd_message=exc.message)
            return self._answer(esito, "NEGATIVO", "XSD-001-001", exc.message, version)
        errors = validation_errors(sip, spec_path(REQUEST_XSD))
        if errors:
            esito.update(xsd_ok=False, xsd_message=errors[0])
            return self._answer(esito, "NEGATIVO", "XSD-001-001", f"Errore di validazione del SIP: {errors[0]}",
                                version)
        key = (sip.findtext("Intestazione/Versatore/Ente"), sip.findtext("Intestazione/Versatore/Struttura"),
               sip.findtext("Intestazione/Chiave/TipoRegistro"),
               f"{sip.findtext('Intestazione/Chiave/Anno')}-{sip.findtext('Intestazione/Chiave/Numero')}")
        expected = [c for c in sip.iter("Componente")
                    if (c.findtext("TipoSupportoComponente") or "FILE") == "FILE"]
        for component in expected:
            upload = files.get(component.findtext("ID"))
            if upload is None:
                esito["files_ok"] = False
                return self._answer(esito, "NEGATIVO", "FILE-001-001",
                                    f"Manca il file del componente {component.findtext('ID')}", version, sip)
            declared = (component.findtext("HashVersato") or "").strip()
            digest = hashlib.sha256(upload.read()).digest()
            if declared and declared not in (digest.hex(), digest.hex().upper(), base64.b64encode(digest).decode()):
                return self._answer(esito, "NEGATIVO", "COMP-006-001",
                                    f"Hash del componente {component.findtext('ID')} non corrispondente", version, sip)
        with self.lock:
            if key in self.deposits:
                return self._answer(esito, "NEGATIVO", "UD-002-001",
                                    "L'Unità Documentaria è già presente nel sistema", version, sip,
                                    existing=self.deposits[key])
            deposited = {"at": clock.now(), "urn": f"urn:IXPARER:{key[0]}:{key[1]}:{key[2]}-{key[3]}"}
            self.deposits[key] = deposited
        return self._answer(esito, "POSITIVO", None, None, version, sip, existing=deposited)

    def _answer(self, esito: dict[str, Any], outcome: str, code: str | None, message: str | None, version: str,
                sip: etree._Element | None = None, existing: dict[str, Any] | None = None) -> Response:
        root = etree.Element("EsitoVersamento")
        _el(root, "Versione", "1.5")
        if version:
            _el(root, "VersioneXMLChiamata", version)
        if existing is not None:
            _el(root, "URNSIP", existing["urn"])
            _el(root, "DataVersamento", existing["at"].astimezone(dt.UTC).isoformat(timespec="seconds"))
        general = _el(root, "EsitoGenerale")
        _el(general, "CodiceEsito", outcome)
        if code:
            _el(general, "CodiceErrore", code)
            _el(general, "MessaggioErrore", message)
        ws = _el(root, "EsitoChiamataWS")
        _el(ws, "VersioneWSCorretta", "POSITIVO" if esito["version_ok"] else "NEGATIVO")
        _el(ws, "CredenzialiOperatore", "POSITIVO" if esito["credentials_ok"] else "NEGATIVO")
        _el(ws, "FileAttesiRicevuti", "POSITIVO" if esito["files_ok"] else "NEGATIVO")
        xsd = _el(root, "EsitoXSD")
        _el(xsd, "CodiceEsito", "POSITIVO" if esito["xsd_ok"] else "NEGATIVO")
        if esito["xsd_message"]:
            _el(xsd, "ControlloStrutturaXML", esito["xsd_message"])
        if sip is not None:
            ud = _el(root, "UnitaDocumentaria")
            versatore = _el(ud, "Versatore")
            for tag in ("Ambiente", "Ente", "Struttura", "UserID"):
                _el(versatore, tag, sip.findtext(f"Intestazione/Versatore/{tag}"))
            chiave = _el(ud, "Chiave")
            for tag in ("Numero", "Anno", "TipoRegistro"):
                _el(chiave, tag, sip.findtext(f"Intestazione/Chiave/{tag}"))
            if existing is not None and outcome == "POSITIVO":
                _el(ud, "DataVersamento", existing["at"].astimezone(dt.UTC).isoformat(timespec="seconds"))
                _el(ud, "StatoConservazione", "IN_ATTESA_SCHED")
                esito_ud = _el(ud, "EsitoUnitaDocumentaria")
                _el(esito_ud, "CodiceEsito", "POSITIVO")
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return Response(body, 200, content_type="application/xml; charset=UTF-8")


def create_app() -> ParerSimulator:
    return ParerSimulator()
