from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from lxml import etree

from common.operations import PermanentError, RetryableError, get_operation
from connectors.base.errors import InvalidRequest, UnsafeXml, XmlSchemaInvalid
from connectors.base.openapi import spec_path
from connectors.base.xml import parse_xml, validation_errors
from connectors.protocollo.seal import SealError, demo_seal, verify_enveloped
from connectors.protocollo.segnatura import (
    NS,
    XSD,
    Administration,
    Correspondent,
    Document,
    Registration,
    SegnaturaData,
    build_segnatura,
    build_unsigned,
    parse_segnatura,
)
from connectors.protocollo.simulator import ProtocolSimulator
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

SHA = hashlib.sha256(b"%PDF-1.4 provvedimento").hexdigest()
PARAMS = {
    "direction": "out",
    "subject": "Comunicazione di avvio del procedimento di iscrizione anagrafica",
    "correspondent": {"type": "person", "first_name": "Giovanni", "last_name": "Prova",
                      "fiscal_code": "PRVGNN90R10H501Q", "pec": "giovanni.prova@pec.example.it"},
    "document": {"filename": "avvio.pdf", "sha256": SHA},
}
NSMAP = {"p": NS}


def data(direction="out", **kw):
    return SegnaturaData(
        direction=direction,
        administration=Administration(name="Comune di Prova", ipa_code="c_z999", aoo_code="AOO1",
                                      fiscal_code="00000000000", pec="protocollo@pec.comune.example.it"),
        registration=Registration(number="0000042", date=dt.date(2026, 11, 23), time=dt.time(10, 15)),
        subject="Richiesta di iscrizione anagrafica",
        correspondent=Correspondent.from_params(PARAMS["correspondent"]),
        primary=Document.from_params(PARAMS["document"]),
        **kw,
    )


def test_outgoing_and_incoming_segnature_validate_against_the_agid_schema():
    key, cert = demo_seal("test")
    for direction in ("out", "in"):
        xml = build_segnatura(data(direction), key_pem=key, cert_pem=cert)
        root = parse_xml(xml)
        assert validation_errors(root, spec_path(XSD)) == []
        sender = root.find("p:Descrizione/p:Mittente", NSMAP)
        expected = "p:Amministrazione" if direction == "out" else "p:PersonaFisica"
        assert sender.find(expected, NSMAP) is not None
        assert root.get(f"{{{NS}}}versione") == "3.0.0"
        verify_enveloped(root)


def test_the_seal_breaks_when_the_segnatura_is_altered():
    key, cert = demo_seal("test")
    root = parse_xml(build_segnatura(data(), key_pem=key, cert_pem=cert))
    root.find("p:Intestazione/p:Oggetto", NSMAP).text = "Oggetto cambiato"
    with pytest.raises(SealError):
        verify_enveloped(root)


def test_an_unsigned_segnatura_does_not_satisfy_the_schema():
    assert validation_errors(build_unsigned(data()), spec_path(XSD))


def test_a_received_segnatura_is_parsed_and_a_hostile_one_refused():
    key, cert = demo_seal("mittente")
    fields = parse_segnatura(build_segnatura(data("in"), key_pem=key, cert_pem=cert))
    assert fields["number"] == "0000042" and fields["aoo"] == "AOO1" and fields["primary_filename"] == "avvio.pdf"
    with pytest.raises(UnsafeXml):
        parse_segnatura(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                        b'<SegnaturaInformatica xmlns="http://www.agid.gov.it/protocollo/">&e;</SegnaturaInformatica>')
    with pytest.raises(XmlSchemaInvalid):
        parse_segnatura(b'<p:SegnaturaInformatica xmlns:p="http://www.agid.gov.it/protocollo/" p:versione="3.0.0" '
                        b'p:lang="it"/>')


@pytest.fixture
def proto(monkeypatch):
    app = ProtocolSimulator()
    with running(app, monkeypatch, "protocollo") as server:
        yield app, server


@pytest.mark.django_db
def test_register_returns_number_date_and_a_valid_sealed_segnatura(proto):
    app, _ = proto
    result = get_operation("protocol.register")(PARAMS, ctx_for(make_tenant()))
    assert result["protocol_number"] == "0000001"
    dt.date.fromisoformat(result["protocol_date"])
    root = parse_xml(result["segnatura_xml"].encode())
    assert validation_errors(root, spec_path(XSD)) == []
    assert root.findtext("p:Intestazione/p:Identificatore/p:NumeroRegistrazione", namespaces=NSMAP) == "0000001"
    verify_enveloped(root)
    sent = app.registrations[0]["request"]
    assert sent["verso"] == "U" and sent["documento_primario"]["nome_file"] == "avvio.pdf"
    assert app.recorded("POST")[0].headers["Idempotency-Key"]


@pytest.mark.django_db
def test_numbers_are_sequential_and_a_retry_never_takes_a_second_number(proto):
    app, _ = proto
    tenant = make_tenant()
    op = get_operation("protocol.register")
    first = op(PARAMS, ctx_for(tenant, key="case-1:prot"))
    from connectors.models import OperationResult

    OperationResult.objects.all().delete()  # as if the answer had been lost
    again = op(PARAMS, ctx_for(tenant, key="case-1:prot"))
    assert again["protocol_number"] == first["protocol_number"]
    second = op({**PARAMS, "direction": "in"}, ctx_for(tenant, key="case-2:prot"))
    assert second["protocol_number"] == "0000002"
    assert len(app.registrations) == 2


@pytest.mark.django_db
def test_protocol_system_down_then_back_registers_once(proto):
    app, _ = proto
    ctx = ctx_for(make_tenant(), key="case-3:prot")
    app.faults.set(fail_count=3, fail_status=503)
    for _ in range(3):
        with pytest.raises(RetryableError):
            get_operation("protocol.register")(PARAMS, ctx)
    assert get_operation("protocol.register")(PARAMS, ctx)["protocol_number"] == "0000001"
    assert len(app.registrations) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [
    {**PARAMS, "direction": "sideways"},
    {**PARAMS, "document": {"filename": "a.pdf", "sha256": "nothex"}},
    {**PARAMS, "correspondent": {"type": "person", "last_name": "Prova"}},
    {**PARAMS, "subject": ""},
])
def test_bad_params_are_refused_permanently_without_registering(proto, bad):
    app, _ = proto
    with pytest.raises(InvalidRequest) as info:
        get_operation("protocol.register")(bad, ctx_for(make_tenant()))
    assert isinstance(info.value, PermanentError)
    assert app.registrations == []


def test_the_segnatura_carries_the_document_digest_in_base64():
    root = build_unsigned(data())
    impronta = root.find("p:Descrizione/p:DocumentoPrimario/p:Impronta", NSMAP)
    import base64

    assert base64.b64decode(impronta.text).hex() == SHA
    assert etree.QName(root).namespace == NS
