"""Attacks through a DOCX template (issue 17, finding 1). A supervisor uploads a template whose
body, header, footer, footnote or document properties carry Jinja code that tries to leave the
sandbox: through the QR/coat-of-arms image objects (`.tpl` → the DocxTemplate → its unsandboxed
`render_properties`, or `docx.save` writing a file), through Jinja globals (`cycler`, `lipsum`,
`namespace`, `range`), through Python internals (`__class__`, `__globals__`), or by reading
names that are not data (`config`, `request`, `self`).

For each: the upload is refused with an Italian message naming where the code is, AND rendering
the same DOCX directly (as if it had been stored before these checks) fails with RenderFailed,
AND the effect the payload was built to have (a file created on the server) did not happen."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part

from accounts.roles import Role
from documents import pipeline, samples, templates
from documents.errors import RenderFailed, TemplateRejected
from documents.models import TenantTemplate
from tests.factories import make_tenant, make_user

FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx(*, body: str = "Gentile {{ richiedente.nome }}", header: str = "", footer: str = "", footnote: str = "",
          **properties: str) -> bytes:
    doc = Document()
    doc.add_paragraph(body)
    doc.add_paragraph("{{ sigillo_qr }}")
    if header:
        doc.sections[0].header.paragraphs[0].text = header
    if footer:
        doc.sections[0].footer.paragraphs[0].text = footer
    for name, value in properties.items():
        setattr(doc.core_properties, name, value)
    if footnote:
        xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="{W_NS}">'
               f'<w:footnote w:id="1"><w:p><w:r><w:t xml:space="preserve">{escape(footnote)}</w:t></w:r></w:p>'
               "</w:footnote></w:footnotes>")
        part = Part(PackURI("/word/footnotes.xml"), FOOTNOTES_CT, xml.encode("utf-8"), doc.part.package)
        doc.part.relate_to(part, RT.FOOTNOTES)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# (id, where the payload goes, payload with {M} = a file the payload would create, expected part label)
ATTACKS = [
    ("qr_tpl_render_properties", {"body": "{{ sigillo_qr.tpl.render_properties({}) }}",
                                  "title": "{{ cycler.__init__.__globals__.os.popen('touch {M}').read() }}"},
     "corpo del documento"),
    ("stemma_docx_save", {"body": "{{ stemma.tpl.docx.save('{M}') }}"}, "corpo del documento"),
    ("stemma_globals", {"body": "{{ stemma.tpl.__init__.__globals__ }}"}, "corpo del documento"),
    ("cycler_popen", {"body": "{{ cycler.__init__.__globals__.os.popen('touch {M}').read() }}"},
     "corpo del documento"),
    ("mro_subclasses", {"body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, "corpo del documento"),
    ("template_reference", {"body": "{{ self._TemplateReference__context }}"}, "corpo del documento"),
    ("lipsum_globals", {"body": "{{ lipsum.__globals__.os.popen('touch {M}').read() }}"}, "corpo del documento"),
    ("range_self", {"body": "{{ range.__self__ }}"}, "corpo del documento"),
    ("config", {"body": "{{ config }}"}, "corpo del documento"),
    ("request", {"body": "{{ request }}"}, "corpo del documento"),
    ("namespace", {"body": "{% set ns = namespace(x=cycler) %}"
                           "{{ ns.x.__init__.__globals__.os.popen('touch {M}').read() }}"}, "corpo del documento"),
    ("str_format", {"body": "{{ '{0.__class__}'.format(richiedente) }}"}, "corpo del documento"),
    ("data_method", {"body": "{{ richiedente.items() }}"}, "corpo del documento"),
    ("header_save", {"header": "{{ stemma.tpl.docx.save('{M}') }}"}, "intestazione"),
    ("footer_save", {"footer": "{{ sigillo_qr.tpl.docx.save('{M}') }}"}, "piè di pagina"),
    ("footnote_save", {"footnote": "{{ sigillo_qr.tpl.docx.save('{M}') }}"}, "note a piè di pagina"),
    ("title_popen", {"title": "{{ cycler.__init__.__globals__.os.popen('touch {M}').read() }}"},
     "proprietà del documento «titolo»"),
    ("subject_save", {"subject": "{{ stemma.tpl.docx.save('{M}') }}"}, "proprietà del documento «oggetto»"),
    ("keywords_context", {"keywords": "{{ self._TemplateReference__context }}"},
     "proprietà del documento «parole chiave»"),
    ("comments_popen", {"comments": "{{ lipsum.__globals__.os.popen('touch {M}').read() }}"},
     "proprietà del documento «commenti»"),
]


def _attack(spec: dict[str, str], marker: Path) -> bytes:
    return _docx(**{k: v.replace("{M}", str(marker)) for k, v in spec.items()})


def _deed_context() -> tuple[dict, dict]:
    """What the pipeline gives a deed: the case's data, the seal block, the QR and the coat of arms."""
    png = pipeline.qr_png("https://example.invalid/verifica/X")
    context = {**samples.comunicazione_avvio_data(), "codice_verifica": "X", "url_verifica": "https://example.invalid",
               "firmatario": "Laura Verdi", "ruolo_firmatario": "Ufficiale d'anagrafe", "data_emissione": "01/12/2026"}
    return context, {"sigillo_qr": (png, 28), "stemma": (png, 18)}


@pytest.mark.parametrize("spec, where", [(a[1], a[2]) for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_the_upload_refuses_the_payload_naming_where_it_is(spec, where, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(_attack(spec, marker), schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.code in {"template_unknown_placeholder", "template_forbidden"}
    assert where in err.value.message
    assert not marker.exists()


@pytest.mark.parametrize("spec, where", [(a[1], a[2]) for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_rendering_a_stored_payload_fails_without_running_it(spec, where, tmp_path):
    marker = tmp_path / "pwned"
    context, images = _deed_context()
    with pytest.raises(RenderFailed) as err:
        templates.render_docx(_attack(spec, marker), context=context, images=images)
    assert err.value.code in {"template_unknown_placeholder", "template_forbidden"}
    assert where in err.value.message
    assert not marker.exists()


def test_the_images_are_still_placed_where_the_template_asks(tmp_path):
    context, images = _deed_context()
    out = templates.render_docx(_docx(header="{{ stemma }} {{ ente.nome }}"), context=context, images=images)
    doc = Document(io.BytesIO(out))
    body_images = doc.element.body.xpath(".//pic:pic")
    header_images = doc.sections[0].header._element.xpath(".//pic:pic")
    assert len(body_images) == 1 and len(header_images) == 1
    assert "procedo-image" not in out.decode("latin-1")
    assert doc.sections[0].header.paragraphs[0].text.strip() == "Comune di Demo"


def test_case_data_is_never_rendered_as_template_code(tmp_path):
    """A citizen's name carrying Jinja code (or a guessed image marker) stays text, in every part."""
    marker = tmp_path / "pwned"
    context, images = _deed_context()
    hostile = ("{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
               " ⟦procedo-image:0:sigillo_qr⟧")
    context["richiedente"] = {**context["richiedente"], "nome": hostile}
    out = templates.render_docx(_docx(footer="{{ richiedente.nome }}", footnote="{{ richiedente.nome }}",
                                      title="{{ richiedente.nome }}"), context=context, images=images)
    doc = Document(io.BytesIO(out))
    assert hostile in doc.paragraphs[0].text
    assert doc.core_properties.title == hostile[:255]
    assert len(doc.element.body.xpath(".//pic:pic")) == 1  # only the template's own QR
    assert not marker.exists()


@pytest.mark.django_db
def test_the_upload_page_refuses_the_qr_escape_and_stores_nothing(settings, tmp_path):
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    tenant = make_tenant("Comune di Capannori", istat="046007")
    client = Client()
    client.force_login(make_user(tenant, Role.SUPERVISOR))
    marker = tmp_path / "pwned"
    payload = _attack(ATTACKS[0][1], marker)
    response = client.post("/amministrazione/modelli/", {
        "name": "comunicazione_avvio", "action": "upload", "file": SimpleUploadedFile("m.docx", payload)}, follow=True)
    assert response.status_code == 400
    assert "{{ sigillo_qr.tpl.render_properties }}" in response.content.decode()
    assert not TenantTemplate.objects.exists() and not marker.exists()


@pytest.mark.parametrize("body", [
    "{% include '/etc/passwd' %}",
    "{% import 'x' as x %}",
    "{% extends '/etc/hostname' %}",
    "{% from 'x' import y %}",
    "{{ richiedente.nome|safe }}",  # raw XML from a citizen's data into the deed
    "{{ richiedente|attr('__class__') }}",
    "{{ richiedente|pprint }}",
    "{% for c in componenti %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{{ cycler }}",
    "{{ joiner() }}",
], ids=["include", "import", "extends", "from_import", "safe", "attr", "pprint", "loop_cycle", "cycler", "joiner"])
def test_statements_filters_and_globals_outside_the_allow_list_are_refused(body):
    with pytest.raises(TemplateRejected) as err:
        templates.validate_template(_docx(body=body), schema=samples.COMUNICAZIONE_AVVIO_SCHEMA)
    assert err.value.code in {"template_unknown_placeholder", "template_forbidden"}
    assert "corpo del documento" in err.value.message
    context, images = _deed_context()
    with pytest.raises(RenderFailed):
        templates.render_docx(_docx(body=body), context=context, images=images)
