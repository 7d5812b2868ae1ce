from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from common.operations import PermanentError, RetryableError, get_operation
from connectors.base.errors import InvalidResponse, PlatformRefused, UnsafeXml, XmlSchemaInvalid
from connectors.base.openapi import spec_path
from connectors.base.xml import parse_xml, validation_errors
from connectors.parer.client import REQUEST_XSD, RESPONSE_XSD, ParerClient, ParerFile
from connectors.parer.simulator import ParerSimulator
from tests.connectors.base.support import ctx_for, running
from tests.factories import make_tenant

PDF = b"%PDF-1.4 atto firmato\n%%EOF\n"


def sip(number: str = "42", *, digest: str | None = None) -> str:
    # A minimal documentary unit by hand (building real SIPs is the documents area's job).
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<UnitaDocumentaria>
  <Intestazione>
    <Versione>1.5</Versione>
    <Versatore><Ambiente>PARER_TEST</Ambiente><Ente>DEMO</Ente><Struttura>DEMO_STRUTTURA</Struttura>
      <UserID>demo_user</UserID></Versatore>
    <Chiave><Numero>{number}</Numero><Anno>2026</Anno><TipoRegistro>PG</TipoRegistro></Chiave>
    <TipologiaUnitaDocumentaria>ATTO ANAGRAFICO</TipologiaUnitaDocumentaria>
  </Intestazione>
  <DocumentoPrincipale>
    <IDDocumento>DOC-{number}</IDDocumento>
    <TipoDocumento>PROVVEDIMENTO</TipoDocumento>
    <StrutturaOriginale>
      <Componenti>
        <Componente>
          <ID>COMP-{number}</ID>
          <OrdinePresentazione>1</OrdinePresentazione>
          <TipoComponente>Contenuto</TipoComponente>
          <TipoSupportoComponente>FILE</TipoSupportoComponente>
          <NomeComponente>atto.pdf.p7m</NomeComponente>
          <HashVersato>{digest or hashlib.sha256(PDF).hexdigest()}</HashVersato>
        </Componente>
      </Componenti>
    </StrutturaOriginale>
  </DocumentoPrincipale>
</UnitaDocumentaria>
"""


def files(number: str = "42", content: bytes = PDF):
    return [{"id": f"COMP-{number}", "filename": "atto.pdf.p7m", "content_base64": base64.b64encode(content).decode()}]


@pytest.fixture
def parer(monkeypatch):
    app = ParerSimulator()
    with running(app, monkeypatch, "parer") as server:
        yield app, server


def test_the_hand_built_sip_is_valid_for_parer():
    assert validation_errors(parse_xml(sip().encode()), spec_path(REQUEST_XSD)) == []


@pytest.mark.django_db
def test_a_sip_is_deposited_and_the_outcome_recorded(parer):
    app, _ = parer
    result = get_operation("parer.send_sip")({"sip_xml": sip(), "files": files()}, ctx_for(make_tenant()))
    assert result["outcome"] == "POSITIVO"
    assert result["urn_sip"].startswith("urn:IXPARER:DEMO:DEMO_STRUTTURA:PG-2026-42")
    assert result["key"] == {"number": "42", "year": "2026", "registry": "PG"}
    assert result["already_preserved"] is False
    posted = app.recorded("POST", "/VersamentoSync")[0]
    assert posted.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="LOGINNAME"' in posted.body and b'name="XMLSIP"' in posted.body and b'name="COMP-42"' in posted.body


@pytest.mark.django_db
def test_a_retry_after_a_lost_answer_is_recognised_as_already_preserved(parer):
    app, _ = parer
    tenant = make_tenant()
    get_operation("parer.send_sip")({"sip_xml": sip(), "files": files()}, ctx_for(tenant, key="k1"))
    again = get_operation("parer.send_sip")({"sip_xml": sip(), "files": files()}, ctx_for(tenant, key="k2"))
    assert again["already_preserved"] is True
    assert len(app.deposits) == 1


@pytest.mark.django_db
def test_wrong_credentials_and_wrong_hash_are_refused_permanently(parer):
    _, server = parer
    client = ParerClient(server.url, username="demo_user", password="wrong")
    with pytest.raises(PlatformRefused) as info:
        client.send_sip(sip().encode(), [ParerFile("COMP-42", "atto.pdf.p7m", PDF)])
    assert info.value.platform_code == "USR-001-001"
    good = ParerClient(server.url, username="demo_user", password="demo-parer-pw")
    with pytest.raises(PlatformRefused) as info:
        good.send_sip(sip().encode(), [ParerFile("COMP-42", "atto.pdf.p7m", b"tampered")])
    assert info.value.platform_code == "COMP-006-001"
    assert isinstance(info.value, PermanentError)
    with pytest.raises(PlatformRefused) as info:
        good.send_sip(sip().encode(), [])
    assert info.value.platform_code == "FILE-001-001"


def test_an_invalid_or_hostile_sip_is_refused_before_sending(parer):
    app, server = parer
    client = ParerClient(server.url, username="demo_user", password="demo-parer-pw")
    with pytest.raises(XmlSchemaInvalid):
        client.send_sip(b"<UnitaDocumentaria><Intestazione/></UnitaDocumentaria>", [])
    with pytest.raises(UnsafeXml):
        client.send_sip(b'<!DOCTYPE x [<!ENTITY a "b">]><UnitaDocumentaria/>', [])
    assert app.recorded("POST") == []


def test_the_simulator_refuses_a_hostile_sip_and_answers_per_the_response_xsd(parer):
    _, server = parer
    form = {"VERSIONE": "1.5", "LOGINNAME": "demo_user", "PASSWORD": "demo-parer-pw",
            "XMLSIP": '<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><UnitaDocumentaria>&a;</UnitaDocumentaria>'}
    answer = httpx.post(f"{server.url}/VersamentoSync", data=form)
    root = parse_xml(answer.content)
    assert validation_errors(root, spec_path(RESPONSE_XSD)) == []
    assert root.findtext("EsitoGenerale/CodiceEsito") == "NEGATIVO"
    assert root.findtext("EsitoXSD/CodiceEsito") == "NEGATIVO"
    ok = httpx.post(f"{server.url}/VersamentoSync", data={**form, "XMLSIP": sip("7")},
                    files={"COMP-7": ("atto.pdf.p7m", PDF)})
    assert validation_errors(parse_xml(ok.content), spec_path(RESPONSE_XSD)) == []


def test_responses_that_break_the_contract_are_refused():
    with pytest.raises(InvalidResponse):
        ParerClient.parse_outcome(b"<EsitoVersamento><Bogus/></EsitoVersamento>")
    with pytest.raises(UnsafeXml):
        ParerClient.parse_outcome(b'<!DOCTYPE e [<!ENTITY x "y">]><EsitoVersamento/>')


def test_a_system_error_is_retryable():
    body = (b"<EsitoVersamento><EsitoGenerale><CodiceEsito>NEGATIVO</CodiceEsito><CodiceErrore>666</CodiceErrore>"
            b"<MessaggioErrore>Errore di sistema</MessaggioErrore></EsitoGenerale><EsitoChiamataWS>"
            b"<VersioneWSCorretta>POSITIVO</VersioneWSCorretta><CredenzialiOperatore>POSITIVO</CredenzialiOperatore>"
            b"<FileAttesiRicevuti>POSITIVO</FileAttesiRicevuti></EsitoChiamataWS><EsitoXSD><CodiceEsito>POSITIVO"
            b"</CodiceEsito></EsitoXSD></EsitoVersamento>")
    with pytest.raises(RetryableError):
        ParerClient.parse_outcome(body)


@pytest.mark.django_db
def test_parer_down_then_back_deposits_once(parer):
    app, _ = parer
    ctx = ctx_for(make_tenant(), key="case-1:preserve")
    app.faults.set(fail_count=2, fail_status=503)
    for _ in range(2):
        with pytest.raises(RetryableError):
            get_operation("parer.send_sip")({"sip_xml": sip("9"), "files": files("9")}, ctx)
    assert get_operation("parer.send_sip")({"sip_xml": sip("9"), "files": files("9")}, ctx)["outcome"] == "POSITIVO"
    assert len(app.deposits) == 1


def test_a_slow_parer_times_out(parer):
    app, server = parer
    app.faults.set(delay=1.0)
    client = ParerClient(server.url, username="demo_user", password="demo-parer-pw", timeout=(1.0, 0.2))
    with pytest.raises(RetryableError):
        client.send_sip(sip().encode(), [ParerFile("COMP-42", "atto.pdf.p7m", PDF)])
    app.faults.clear()


def test_an_html_answer_instead_of_xml_is_refused(parer):
    from connectors.base.errors import UnexpectedContentType

    app, server = parer
    app.faults.set(content_type="text/html")
    client = ParerClient(server.url, username="demo_user", password="demo-parer-pw")
    with pytest.raises(UnexpectedContentType):
        client.send_sip(sip().encode(), [ParerFile("COMP-42", "atto.pdf.p7m", PDF)])


def test_an_oversized_answer_is_refused(parer):
    from connectors.base.errors import ResponseTooLarge

    app, server = parer
    app.faults.set(oversize_bytes=21 * 1024 * 1024)
    client = ParerClient(server.url, username="demo_user", password="demo-parer-pw")
    with pytest.raises(ResponseTooLarge):
        client.send_sip(sip().encode(), [ParerFile("COMP-42", "atto.pdf.p7m", PDF)])
