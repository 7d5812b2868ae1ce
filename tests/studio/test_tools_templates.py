"""A draft's deeds listed with their DOCX placeholders, checked against the deed's field list and
the data the process produces (/studio/bozze/<draft>/modelli/)."""

from __future__ import annotations

import base64
import io

import pytest
import yaml
from docx import Document

from engine.bundles import read_bundle
from studio.scenarios import PROCESSES
from studio.templates_check import deeds_check
from tests.studio import test_tools_support

make_draft = test_tools_support.make_draft  # fixtures shared by the studio tool tests
admin_client = test_tools_support.admin_client

SHIPPED = sorted(p.name for p in PROCESSES.iterdir() if (p / "manifest.yaml").is_file())


def _docx(*paragraphs: str) -> str:
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    section = doc.sections[0]
    section.header.paragraphs[0].text = "{{ ente.nome }}"
    raw = io.BytesIO()
    doc.save(raw)
    return "base64:" + base64.b64encode(raw.getvalue()).decode()


def _residence_files(**changes: str) -> dict[str, str]:
    files = dict(read_bundle(PROCESSES / "residence_change").files)
    files.update(changes)
    return files


def _avvio(checked):
    """The report of the notice of start (the residence change ships more deeds than that one)."""
    reports, _general = checked
    return next(r for r in reports if r.template == "deeds/comunicazione_avvio.docx")


@pytest.mark.parametrize("process_id", SHIPPED)
def test_every_shipped_deed_uses_only_its_fields_and_reads_only_data_the_process_produces(process_id):
    reports, general = deeds_check(process_id, read_bundle(PROCESSES / process_id).files)
    assert general == []
    for report in reports:
        assert report.placeholders, report.name
        assert report.errors == [], [p.message for p in report.errors]


def test_it_lists_each_placeholder_with_the_part_of_the_document_using_it():
    files = _residence_files(**{"deeds/comunicazione_avvio.docx": _docx(
        "Pratica {{ pratica.numero }} di {{ richiedente.cognome }}",
        "{% for c in componenti %}{{ c.nome }} {{ c.codice_fiscale }}{% endfor %}")})
    report = _avvio(deeds_check("residence_change", files))
    listed = {p.path: p.parts for p in report.placeholders}
    assert listed["ente.nome"] == ["intestazione"]
    assert listed["pratica.numero"] == ["corpo del documento"]
    assert {"componenti", "componenti[].nome", "componenti[].codice_fiscale"} <= set(listed)
    assert all(p.known for p in report.placeholders)


def test_an_unknown_placeholder_is_an_error_and_an_unused_field_a_warning():
    files = _residence_files(**{"deeds/comunicazione_avvio.docx": _docx(
        "{{ pratica.numero }} {{ richiedente.secondo_nome }} {{ sposo.nome }}")})
    report = _avvio(deeds_check("residence_change", files))
    unknown = [p.message for p in report.problems if p.code == "unknown_placeholder"]
    assert len(unknown) == 2 and "«richiedente.secondo_nome» (corpo del documento)" in unknown[0]
    unused = {p.message for p in report.problems if p.code == "unused_field"}
    assert "Il campo «richiedente.cognome» non è usato dal modello." in unused
    assert "Il campo «componenti.nome» non è usato dal modello." in unused
    assert not any("pratica.numero" in m for m in unused)


def test_a_mapping_reading_data_nobody_produces_or_a_key_the_form_lacks_is_an_error():
    mapping = yaml.safe_load(_residence_files()["deeds/comunicazione_avvio.mapping.yaml"])
    mapping["provenienza_estero"] = 'registration["origni"] == "abroad"'
    mapping["pratica"]["data_dichiarazione"] = "format_date(declaraton_date)"
    mapping["richiedente"]["nome"] = 'declarants[0]["given_nam"]'
    del mapping["responsabile"]
    files = _residence_files(**{"deeds/comunicazione_avvio.mapping.yaml": yaml.safe_dump(mapping)})
    report = _avvio(deeds_check("residence_change", files))
    by_code = {}
    for problem in report.problems:
        by_code.setdefault(problem.code, []).append(problem.message)
    assert any("«declaraton_date»" in m and "non produce" in m for m in by_code["unknown_data"])
    keys = " ".join(by_code["unknown_key"])
    assert 'registration["origni"]' in keys and "non ha il campo «origni»" in keys
    assert 'declarants[0]["given_nam"]' in keys
    assert by_code["unmapped_field"] == [
        "Il campo «responsabile» non è calcolato dalla mappatura (deeds/comunicazione_avvio.mapping.yaml): "
        "nell'atto sarà vuoto."]


def test_a_broken_docx_is_reported_not_raised():
    files = _residence_files(**{"deeds/comunicazione_avvio.docx": "base64:" + base64.b64encode(b"PK nope").decode()})
    report = _avvio(deeds_check("residence_change", files))
    assert [p.code for p in report.errors] == ["not_docx"] and report.placeholders == []
    syntax = _residence_files(**{"deeds/comunicazione_avvio.docx": _docx("{{ pratica.numero ")})
    report = _avvio(deeds_check("residence_change", syntax))
    assert report.errors[0].code == "template_syntax" and "paragrafo 1" in report.errors[0].message


@pytest.mark.django_db
def test_the_page_lists_the_deeds_with_their_placeholders_and_problems(office, admin_client, make_draft):
    draft = make_draft(office["tenant"], **{"deeds/comunicazione_avvio.docx": _docx("{{ sposo.nome }}")})
    response = admin_client.get(f"/studio/bozze/{draft.pk}/modelli/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Comunicazione di avvio del procedimento" in html
    assert "<code>sposo.nome</code>" in html and "sconosciuto" in html
    other = make_draft(office["tenant"], "marriage_banns")
    page = admin_client.get(f"/studio/bozze/{other.pk}/modelli/").content.decode()
    assert "Nessun errore." in page and "<code>sposi[].nome</code>" in page
