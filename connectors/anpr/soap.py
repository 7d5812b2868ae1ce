"""SOAP 1.1 envelopes for ANPR's register services (document/literal, empty SOAPAction).

ANPR's WSDLs (`src/wsdl/comuni/*.wsdl` in italia/anpr) bind every operation as document/literal
with `soapAction=""`; the body holds one element of the service's XSD, whose
children are unqualified (`elementFormDefault="unqualified"`). Requests are
validated against the official XSD (shipped in `schemas/`) before they leave; answers are parsed with the
hardened parser (no DTD, no entities, size-capped) and validated too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _
from lxml import etree

from ..base.errors import InvalidResponse
from ..base.specs import spec_path
from ..base.xml import parse_xml, to_bytes, validation_errors

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class Service:
    """One ANPR SOAP service: where it is served and which XSD defines its messages."""

    code: str  # "5000", "1000", "P000"
    path: str  # path of the WSDL's soap:address
    namespace: str
    xsd: str  # shipped file, relative to the connectors package

    def schema_path(self) -> Path:
        return spec_path(self.xsd)


MUTAZIONE = Service("5000", "/ANPR5000ServiziMutazione/AnprService5000", "http://sogei.it/ANPR/5000mutazione",
                    "anpr/schemas/5000mutazione.xsd")
ISCRIZIONE = Service("1000", "/ANPR/AnprService1000", "http://sogei.it/ANPR/1000iscrizione",
                     "anpr/schemas/1000iscrizione.xsd")
CANCELLAZIONE = Service("2000", "/ANPR/AnprService2000", "http://sogei.it/ANPR/2000cancellazione",
                        "anpr/schemas/2000cancellazione.xsd")
SERVIZI_CITTADINO = Service("P000", "/P000", "http://sogei.it/ANPR/P000sc", "anpr/schemas/P000sc.xsd")
SERVICES = {s.path: s for s in (MUTAZIONE, ISCRIZIONE, CANCELLAZIONE, SERVIZI_CITTADINO)}


def envelope(payload: etree._Element) -> bytes:
    env = etree.Element(etree.QName(SOAP_ENV, "Envelope"), nsmap={"soapenv": SOAP_ENV})
    etree.SubElement(env, etree.QName(SOAP_ENV, "Header"))
    body = etree.SubElement(env, etree.QName(SOAP_ENV, "Body"))
    body.append(payload)
    return to_bytes(env)


def fault(code: str, message: str) -> bytes:
    env = etree.Element(etree.QName(SOAP_ENV, "Envelope"), nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, etree.QName(SOAP_ENV, "Body"))
    f = etree.SubElement(body, etree.QName(SOAP_ENV, "Fault"))
    etree.SubElement(f, "faultcode").text = f"soapenv:{code}"
    etree.SubElement(f, "faultstring").text = message
    return to_bytes(env)


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def body_payload(data: bytes) -> etree._Element:
    """The one element inside soap:Body; raises SoapFault for a Fault, errors for anything else odd."""
    root = parse_xml(data)
    if root.tag != etree.QName(SOAP_ENV, "Envelope").text:
        raise InvalidResponse(_("La risposta ANPR non è una busta SOAP."), details={"root": root.tag})
    body = root.find(etree.QName(SOAP_ENV, "Body").text)
    if body is None or len(body) != 1:
        raise InvalidResponse(_("La busta SOAP di ANPR non contiene un messaggio."))
    payload = body[0]
    if payload.tag == etree.QName(SOAP_ENV, "Fault").text:
        raise SoapFault(payload.findtext("faultcode") or "", payload.findtext("faultstring") or "")
    return payload


def schema_errors(payload: etree._Element, service: Service) -> list[str]:
    # Validate a detached copy: the schema describes the payload, not the envelope.
    return validation_errors(etree.fromstring(etree.tostring(payload)), service.schema_path())
