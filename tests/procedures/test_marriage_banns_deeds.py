"""The banns' deed of publication and certificate of publication (issue 11, Done when): each is PDF/A-2b,
signed PAdES by the civil registrar, and carries the QR code of its verification page, which answers for
it. The scenario in processes/marriage_banns/tests.yaml drives the case; here the PDFs themselves are read."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import make_tenant
from tests.pdf_tools import pdf_metadata, pdf_qr_codes, pdf_text
from tests.procedures.scenarios import PROCESSES, Runner, load_scenarios
from tests.procedures.test_scenarios import deed_signer, simulator_urls  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "marriage_banns")}


def test_the_deed_and_the_certificate_are_signed_pdfa_with_a_qr_to_their_verification_page(
        simulator_urls, deed_signer, settings, tmp_path):  # noqa: F811
    from documents import storage
    from documents.models import Document
    from documents.verify import verify_pdf

    settings.PROCEDO_DOCUMENTS_SIGNERS = deed_signer
    settings.PROCEDO_PUBLIC_BASE_URL = "https://procedo.example"
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648", patron=(7, 25))
    runner = Runner(SCENARIOS["celebrated"], tenant=tenant, simulator_urls=simulator_urls)
    runner.run()
    for kind in ("atto_pubblicazione", "certificato_pubblicazione"):
        [deed] = Document.objects.filter(case=runner.case, kind=kind)
        pdf = storage.get(deed.sha256)
        [signature] = verify_pdf(pdf)
        assert signature.intact and signature.valid, kind
        meta = pdf_metadata(pdf, tmp_path, name=kind)
        assert 'pdfaid:part="2"' in meta or "<pdfaid:part>2</pdfaid:part>" in meta, kind
        text = " ".join(pdf_text(pdf, tmp_path, name=kind, layout=False).split())
        assert "PROVA" in text.upper() and "BIANCHI" in text.upper() and runner.case.number in text, (kind, text)
        decoded = pdf_qr_codes(pdf, tmp_path, name=kind)
        url = f"https://procedo.example/verifica/{deed.verification_code}"
        assert url in decoded, (kind, decoded)
        page = Client().get(f"/verifica/{deed.verification_code}")
        assert page.status_code == 200 and deed.sha256 in page.content.decode(), kind
