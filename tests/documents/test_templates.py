from __future__ import annotations

import io
import zipfile

import pytest
from docx import Document

from documents import samples, templates
from documents.errors import RenderFailed, TemplateRejected


def _docx(*paragraphs: str) -> bytes:
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _text(docx: bytes) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)


def test_the_sample_notice_passes_validation_and_names_its_placeholders():
    report = templates.validate_template(samples.comunicazione_avvio_docx(), schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert "richiedente.cognome" in report.variables
    assert "componenti[].codice_fiscale" in report.variables


def test_rendering_fills_loops_and_conditionals():
    data = samples.comunicazione_avvio_data()
    data["provenienza_estero"] = True
    out = templates.render_docx(samples.comunicazione_avvio_docx(), context=data)
    text = _text(out)
    assert "Bianchi Anna (BNCNNA82B41H501X)" in text
    assert "Rossi Mario (RSSMRA80A01H501U)" in text
    assert "trasferimento dall'estero" in text
    assert "{{" not in text and "{%" not in text
    data["provenienza_estero"] = False
    assert "trasferimento dall'estero" not in _text(templates.render_docx(samples.comunicazione_avvio_docx(), context=data))


def test_a_syntax_error_is_refused_with_the_wrong_fragment():
    bad = _docx("Gentile {{ richiedente.nome }}", "Pratica {{ pratica.numero }", "Fine")
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(bad, schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.code == "template_syntax"
    assert "Pratica {{ pratica.numero }" in err.value.message
    assert err.value.details["line"] == 2


def test_an_unknown_placeholder_is_refused_by_name():
    bad = _docx("Gentile {{ richiedente.nome }} {{ richiedente.telefono }}",
                "{% for c in componenti %}{{ c.eta }}{% endfor %}", "{{ sconosciuto }}")
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(bad, schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.code == "template_unknown_placeholder"
    assert set(err.value.details["unknown"]) == {"richiedente.telefono", "componenti[].eta", "sconosciuto"}
    assert "{{ richiedente.telefono }}" in err.value.message


def test_a_zip_bomb_docx_is_refused_before_parsing():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"<a/>")
        zf.writestr("word/media/bomb.bin", b"\0" * (80 * 1024 * 1024))
    assert len(buf.getvalue()) < 1024 * 1024
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(buf.getvalue(), schema={})
    assert err.value.code == "zip_bomb"
    with pytest.raises(TemplateRejected):
        templates.render_docx(buf.getvalue(), context={})


def test_a_file_that_is_not_a_docx_is_refused():
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(b"%PDF-1.7 not a docx", schema={})
    assert err.value.code == "not_docx"


@pytest.mark.parametrize("body, code", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "template_limit"),
    ("{{ 'x' * 100000000 }}", "template_limit"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "template_limit"),
    ("{{ ''.__class__.__mro__ }}", "template_forbidden"),
])
def test_runaway_or_unsafe_templates_are_stopped(body, code):
    with pytest.raises(RenderFailed) as err:
        templates.render_docx(_docx(body), context={})
    assert err.value.code == code


def test_huge_output_from_a_data_loop_is_stopped():
    body = "{% for a in righe %}{% for b in righe %}{% for c in righe %}{{ a }}{{ b }}{{ c }}{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderFailed):
        templates.render_docx(_docx(body), context={"righe": ["x" * 100] * 300})


def _docx_with_header(header: str, body: str = "Corpo") -> bytes:
    doc = Document()
    doc.sections[0].header.paragraphs[0].text = header
    doc.add_paragraph(body)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def test_headers_are_checked_too():
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(_docx_with_header("{{ ente.nome }} {{ ente.pec }}"), schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.details["unknown"] == ["ente.pec"]
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(_docx_with_header("{% if ente.nome %}"), schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.details["part"] == "intestazione"
    assert "{% if ente.nome %}" in err.value.message
    out = templates.render_docx(_docx_with_header("{{ ente.nome }}"), context={"ente": {"nome": "Comune di Demo"}})
    assert Document(io.BytesIO(out)).sections[0].header.paragraphs[0].text == "Comune di Demo"
