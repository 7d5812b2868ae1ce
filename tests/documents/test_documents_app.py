"""The documents app wired to cases, tenants and audit: the engine operation, the
API, the dossier, uploads checked by content, and the public verification page."""

from __future__ import annotations

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import CaseSubject
from cases.services import case_start
from common.operations import OperationContext, get_operation
from documents import services, storage
from documents.models import Document, DossierEntry
from documents.verify import verify_pdf
from tests.documents import pdfs
from tests.engine_models import publish_bundle
from tests.factories import api_client, make_tenant, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.documents.urls")]

CF = "RSSMRA80A01H501U"
OTHER_CF = "BNCNNA82B41H501X"


@pytest.fixture
def docs_settings(settings, tmp_path, signer_p12, trust, converter):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"registrar": {"kind": "pkcs12", "path": str(signer_p12), "passphrase": "segreta"}}
    settings.PROCEDO_DOCUMENTS_TSA_URL = trust.tsa_url
    settings.PROCEDO_PUBLIC_BASE_URL = "https://procedo.example"
    return settings


@pytest.fixture
def world(docs_settings):
    a = make_tenant("Comune A")
    b = make_tenant("Comune B")
    publish_bundle("three_tasks")
    registrar = make_user(a, Role.REGISTRAR)
    case = case_start(tenant=a, user=registrar, process_id="three_tasks", data={})
    case.subjects = [{"fiscal_code": CF, "given_name": "Mario", "family_name": "Rossi"}]
    case.save(update_fields=["subjects"])
    CaseSubject.objects.create(tenant=a, case=case, fiscal_code=CF)
    return {
        "a": a, "b": b, "case": case, "registrar": registrar,
        "viewer": make_user(a, Role.VIEWER),
        "citizen": make_user(a, Role.CITIZEN, fiscal_code=CF),
        "other_citizen": make_user(a, Role.CITIZEN, fiscal_code=OTHER_CF),
        "b_user": make_user(b, Role.SUPERVISOR, Role.REGISTRAR),
    }


def _issue(world, key: str = "case-1-notice") -> dict:
    from documents import samples

    op = get_operation("documents.render_and_sign")
    ctx = OperationContext(tenant_id=world["a"].pk, tenant_istat=world["a"].istat_code, idempotency_key=key,
                           case_id=world["case"].pk)
    return op({"template": "comunicazione_avvio", "data": samples.comunicazione_avvio_data(),
               "signer_role": "registrar", "signer_role_label": "Ufficiale d'anagrafe"}, ctx)


@pytest.fixture
def issued(world):
    return _issue(world)


def test_render_and_sign_stores_a_signed_document_linked_to_case_and_dossier(world, issued):
    doc = Document.objects.get(pk=issued["document_id"])
    assert doc.case_id == world["case"].pk and doc.tenant_id == world["a"].pk
    assert doc.sha256 == issued["sha256"] and doc.signed and doc.signature_level == "B-T"
    assert len(issued["verification_code"]) >= 20
    assert list(DossierEntry.objects.filter(document=doc).values_list("fiscal_code", flat=True)) == [CF]
    [report] = verify_pdf(storage.get(doc.sha256))
    assert report.intact and report.valid and report.level == "B-T"
    assert AuditEvent.objects.filter(action="sign", object_type="document", object_id=str(doc.pk)).exists()


def test_render_and_sign_is_idempotent_per_key(world, issued):
    again = _issue(world)
    assert again == issued
    assert Document.objects.filter(tenant=world["a"]).count() == 1


def test_an_unknown_template_is_a_permanent_error_and_writes_nothing(world):
    from common.operations import PermanentError

    op = get_operation("documents.render_and_sign")
    ctx = OperationContext(tenant_id=world["a"].pk, tenant_istat=world["a"].istat_code, idempotency_key="x",
                           case_id=world["case"].pk)
    with pytest.raises(PermanentError):
        op({"template": "../../etc/passwd", "data": {}}, ctx)
    assert not Document.objects.exists()


def test_the_qr_code_leads_to_the_public_verification_page(world, issued, tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(storage.get(issued["sha256"]))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    url = subprocess.run(["zbarimg", "--quiet", "--raw", str(next(tmp_path.glob("p*.png")))],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert url == f"https://procedo.example/verifica/{issued['verification_code']}"
    page = Client().get(url.removeprefix("https://procedo.example"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Comune A" in html and issued["sha256"] in html and "Laura Verdi" in html
    assert "valida" in html and "PAdES B-T" in html


def test_the_verification_page_compares_an_uploaded_pdf_and_shows_revocation(world, issued):
    client = Client()
    path = f"/verifica/{issued['verification_code']}"
    original = storage.get(issued["sha256"])
    same = client.post(path, {"file": SimpleUploadedFile("x.pdf", original, "application/pdf")})
    assert 'data-match="yes"' in same.content.decode()
    other = client.post(path, {"file": SimpleUploadedFile("x.pdf", original + b"\n", "application/pdf")})
    assert 'data-match="no"' in other.content.decode()
    services.document_revoke(document=Document.objects.get(pk=issued["document_id"]), user=None, reason="errore materiale")
    assert "annullato" in client.get(path).content.decode()
    assert client.get("/verifica/codice-che-non-esiste").status_code == 404


def test_case_documents_api_lists_with_download_url_and_audits_the_read(world, issued):
    client = api_client(world["registrar"], world["a"])
    body = client.get(f"/api/v1/cases/{world['case'].pk}/documents/").json()
    [item] = body["results"]
    assert item["id"] == issued["document_id"] and item["sha256"] == issued["sha256"]
    assert item["signed"] is True and item["verification_code"] == issued["verification_code"]
    content = client.get(item["download_url"])
    assert content.status_code == 200 and content["Content-Type"] == "application/pdf"
    assert b"".join(content) == storage.get(issued["sha256"])
    assert AuditEvent.objects.filter(action="read", object_type="document", object_id=str(item["id"])).exists()
    assert AuditEvent.objects.filter(action="read", object_type="case_documents").exists()


def test_another_tenant_cannot_see_the_documents(world, issued):
    client = api_client(world["b_user"], world["b"])
    assert client.get(f"/api/v1/cases/{world['case'].pk}/documents/").status_code == 404
    assert client.get(f"/api/v1/documents/{issued['document_id']}/content/").status_code == 404
    assert client.get(f"/api/v1/dossiers/{CF}/").json()["results"] == []


def test_a_citizen_sees_only_their_own_dossier(world, issued):
    own = api_client(world["citizen"], world["a"]).get(f"/api/v1/dossiers/{CF}/")
    assert own.status_code == 200 and [e["document"]["id"] for e in own.json()["results"]] == [issued["document_id"]]
    other = api_client(world["other_citizen"], world["a"])
    assert other.get(f"/api/v1/dossiers/{CF}/").status_code == 403
    assert other.get(f"/api/v1/documents/{issued['document_id']}/content/").status_code == 404
    assert AuditEvent.objects.filter(action="read", object_type="dossier", object_id=CF).exists()


def test_a_viewer_reads_the_dossier_but_cannot_upload(world, issued):
    client = api_client(world["viewer"], world["a"])
    assert client.get(f"/api/v1/dossiers/{CF}/").status_code == 200
    resp = client.post(f"/api/v1/dossiers/{CF}/", {"file": SimpleUploadedFile("a.png", pdfs.PNG_1PX),
                                                   "document_type": "scansione", "date": "2026-11-20"}, format="multipart")
    assert resp.status_code == 403


def _upload(world, data: bytes, name: str = "file.pdf"):
    client = api_client(world["registrar"], world["a"])
    return client.post(f"/api/v1/dossiers/{CF}/", {
        "file": SimpleUploadedFile(name, data), "document_type": "documento_identita", "date": "2026-11-20",
        "protocol_number": "12345", "protocol_date": "2026-11-21", "origin": "citizen",
    }, format="multipart")


def test_an_uploaded_scan_is_filed_with_its_metadata(world):
    resp = _upload(world, pdfs.PNG_1PX, "scansione.pdf")  # the name lies: the content decides
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["document"]["mime"] == "image/png"
    assert body["protocol_number"] == "12345" and body["origin"] == "citizen"
    entry = DossierEntry.objects.get(pk=body["id"])
    assert storage.get(entry.document.sha256) == pdfs.PNG_1PX


@pytest.mark.parametrize("make,code", [
    (pdfs.encrypted_pdf, "pdf_encrypted"),
    (pdfs.pdf_with_javascript, "pdf_active_content"),
    (pdfs.pdf_with_embedded_file, "pdf_active_content"),
    (lambda: b"%PDF-1.7\nthis is not a pdf body", "pdf_corrupt"),
    (lambda: b"MZ\x90\x00 an executable", "unsupported_type"),
])
def test_hostile_uploads_are_refused_with_a_clear_error_and_nothing_written(world, make, code):
    resp = _upload(world, make())
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == code
    assert not Document.objects.exists() and not DossierEntry.objects.exists()


def test_an_oversized_upload_is_refused(world, settings):
    settings.PROCEDO_DOCUMENTS_MAX_UPLOAD = 1024
    resp = _upload(world, pdfs.PNG_1PX + b"\0" * 2048, "big.png")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "too_large"
    assert not Document.objects.exists()
