"""One deed per destination of the ashes (issue 12): after the cremation authorisation each authorised
case gets exactly one of the three, rendered from its own template with its own fields and legal
references, PDF/A-2b, signed PAdES by the civil registrar and protocolled out. The scenarios in
processes/cremation_authorisation/tests.yaml drive the case; here the PDFs themselves are read."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.factories import make_tenant
from tests.pdf_tools import pdf_metadata, pdf_text
from tests.procedures.scenarios import PROCESSES, Runner, load_scenarios
from tests.procedures.test_scenarios import deed_signer, simulator_urls  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "cremation_authorisation")}

# scenario -> (the deed it ends with, sentences the signed PDF must carry)
CASES = {
    "cemetery_urn_buried": ("autorizzazione_sepoltura_ceneri", [
        "AUTORIZZAZIONE ALLA SEPOLTURA DELL'URNA CINERARIA", "l'inumazione (interramento)",
        "Cimitero urbano di Lucca", "articolo 80 del D.P.R. 10 settembre 1990, n. 285"]),
    "affidamento_enabled_place_not_allowed": ("autorizzazione_sepoltura_ceneri", [
        "la richiesta di affidamento dell'urna non può essere accolta", "locale commerciale",
        "la tumulazione", "cimitero comunale"]),
    "affidamento_enabled_and_granted": ("autorizzazione_affidamento", [
        "AUTORIZZAZIONE ALL'AFFIDAMENTO DELL'URNA CINERARIA", "Mario Rossi (C.F. RSSMRA80A01H501U)",
        "via Roma 1, Lucca", "articolo 3, comma 1, lettera e, della legge 30 marzo 2001, n. 130",
        "art. 411 codice penale"]),
    "dispersione_enabled_and_granted": ("autorizzazione_dispersione", [
        "AUTORIZZAZIONE ALLA DISPERSIONE DELLE CENERI", "in natura: località Pian della Fioba",
        "a cura di Mario Rossi (figlio)", "testamento olografo del 3 maggio 2019",
        "articolo 3, comma 1, lettere c e d, della legge 30 marzo 2001, n. 130"]),
}


def _text(pdf: bytes, tmp_path) -> tuple[str, str]:
    return pdf_metadata(pdf, tmp_path, name="deed"), " ".join(pdf_text(pdf, tmp_path, name="deed", layout=False).split())


@pytest.mark.parametrize("name", list(CASES))
def test_each_ashes_option_gets_its_own_signed_pdfa_deed(name, simulator_urls, deed_signer, settings,  # noqa: F811
                                                         tmp_path):
    from documents import storage
    from documents.models import Document
    from documents.verify import verify_pdf

    settings.PROCEDO_DOCUMENTS_SIGNERS = deed_signer
    call_command("sync_processes", verbosity=0)
    tenant = make_tenant("Comune di Capannori", istat="046007", belfiore="B648", patron=(7, 25))
    runner = Runner(SCENARIOS[name], tenant=tenant, simulator_urls=simulator_urls)
    runner.run()
    kind, sentences = CASES[name]
    ashes = [d for d in Document.objects.filter(case=runner.case) if d.kind.startswith(("autorizzazione_sep",
                                                                                          "autorizzazione_aff",
                                                                                          "autorizzazione_dis"))]
    assert [d.kind for d in ashes] == [kind]
    deed = ashes[0]
    assert deed.protocol_number and deed.protocol_direction == "out"
    pdf = storage.get(deed.sha256)
    [signature] = verify_pdf(pdf)
    assert signature.intact and signature.valid
    meta, text = _text(pdf, tmp_path)
    assert 'pdfaid:part="2"' in meta or "<pdfaid:part>2</pdfaid:part>" in meta
    for sentence in sentences:
        assert sentence in text, (sentence, text)
    assert runner.case.number in text and "Giuseppe Rossi" in text
    # The ashes deed quotes the cremation authorisation's protocol; that deed is signed PDF/A too and
    # states the earliest time of cremation and the destination of the ashes.
    assert runner.case.data["authorisation_protocol"]["protocol_number"] in text
    [cremation] = Document.objects.filter(case=runner.case, kind="autorizzazione_cremazione")
    pdf = storage.get(cremation.sha256)
    [signature] = verify_pdf(pdf)
    assert signature.intact and signature.valid
    meta, text = _text(pdf, tmp_path)
    assert 'pdfaid:part="2"' in meta or "<pdfaid:part>2</pdfaid:part>" in meta
    assert "AUTORIZZA la cremazione della salma di Giuseppe Rossi" in text
    assert "non può essere eseguita prima del 01/03/2026 ore 10:15" in text
    assert f"Destinazione delle ceneri: {runner.case.data['ashes_label']}" in text
