"""A municipality's own versions of a shipped template: checked at upload (the wrong fragment
named), versioned, used for its deeds only, and revertible."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from docx import Document as Docx

from accounts.roles import Role
from audit.models import AuditEvent
from documents import samples, services
from documents.models import TenantTemplate
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = pytest.mark.django_db


def _text(data: bytes) -> str:
    """What a DOCX says (two generations of the same DOCX differ in their ZIP timestamps)."""
    return "\n".join(p.text for p in Docx(io.BytesIO(data)).paragraphs)


SHIPPED = _text(samples.comunicazione_avvio_docx())


def _docx(*paragraphs: str) -> bytes:
    doc = Docx()
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


GOOD = _docx("{{ ente.nome }} - Ufficio Anagrafe di Capannori", "Gentile {{ richiedente.nome }}",
             "{% for c in componenti %}{{ c.cognome }}{% endfor %}", "{{ sigillo_qr }}")


@pytest.fixture
def office(settings, tmp_path, make_office):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    office = make_office(people={"admin": Role.PROCESS_ADMIN}, processes=False)
    office["client"] = second_factor_client(office["admin"])
    return office


def _upload(office, content: bytes, name: str = "comunicazione_avvio"):
    return office["client"].post("/amministrazione/modelli/", {
        "name": name, "action": "upload", "file": SimpleUploadedFile("mio-modello.docx", content)}, follow=True)


def test_an_uploaded_version_is_used_for_this_municipality_only(office):
    response = _upload(office, GOOD)
    assert "versione 1 attiva" in response.content.decode()
    assert services.template_load(name="comunicazione_avvio", tenant=office["tenant"]) == GOOD
    other = make_tenant("Comune di Lucca", istat="046017")
    assert _text(services.template_load(name="comunicazione_avvio", tenant=other)) == SHIPPED
    assert AuditEvent.objects.filter(object_type="template", action="create").exists()


@pytest.mark.parametrize("content, message", [
    (_docx("Gentile {{ richiedente.codice_segreto }}"), "{{ richiedente.codice_segreto }}"),
    (_docx("Intestazione", "{% if richiedente.nome %}senza fine"), "«{% if richiedente.nome %}senza fine»"),
    (b"PK\x03\x04 not really a docx", "DOCX"),
])
def test_a_wrong_template_is_refused_naming_what_is_wrong(office, content, message):
    response = _upload(office, content)
    assert response.status_code == 400 and message in response.content.decode()
    assert not TenantTemplate.objects.exists()


def test_versions_are_kept_and_the_shipped_template_can_come_back(office):
    _upload(office, GOOD)
    second = _docx("{{ ente.nome }} - seconda versione", "{{ sigillo_qr }}")
    _upload(office, second)
    tenant = office["tenant"]
    assert list(TenantTemplate.objects.filter(tenant=tenant).values_list("version", "is_active")) == \
        [(2, True), (1, False)]
    client = office["client"]
    client.post("/amministrazione/modelli/", {"name": "comunicazione_avvio", "action": "activate", "version": "1"})
    assert services.template_load(name="comunicazione_avvio", tenant=tenant) == GOOD
    client.post("/amministrazione/modelli/", {"name": "comunicazione_avvio", "action": "activate"})
    assert _text(services.template_load(name="comunicazione_avvio", tenant=tenant)) == SHIPPED
    assert TenantTemplate.objects.filter(tenant=tenant).count() == 2


def test_only_administrators_change_templates(office):
    registrar = Client()
    registrar.force_login(make_user(office["tenant"], Role.REGISTRAR))
    response = registrar.post("/amministrazione/modelli/", {
        "name": "comunicazione_avvio", "action": "upload", "file": SimpleUploadedFile("m.docx", GOOD)})
    assert response.status_code == 403 and not TenantTemplate.objects.exists()
    assert _upload(office, GOOD, name="inesistente").status_code == 400


def test_a_case_uses_the_template_of_its_own_process_version(office):
    import base64

    from engine.models import ProcessVersion
    from engine.registry import process_version_publish
    from tests.engine_models import inline_bundle

    bpmn = ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/'
            '20100524/MODEL" id="d" targetNamespace="t"><bpmn:process id="letters" isExecutable="true">'
            '<bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>')
    versions = []
    for wording in ("prima stesura {{ sigillo_qr }}", "seconda stesura {{ sigillo_qr }}"):
        outcome = process_version_publish(bundle=inline_bundle("letters", "Lettere", {
            "letters.bpmn": bpmn, "templates/lettera.docx": "base64:" + base64.b64encode(_docx(wording)).decode()}))
        versions.append(ProcessVersion.objects.get(definition__process_id="letters", version=outcome.version))
    def text(data: bytes) -> str:
        return " ".join(p.text for p in Docx(io.BytesIO(data)).paragraphs)

    assert text(services.template_load(name="lettera", process_id="letters", version=versions[0])).startswith("prima")
    assert text(services.template_load(name="lettera", process_id="letters", version=versions[1])).startswith("seconda")
