from __future__ import annotations

import subprocess

import pytest

from documents import pipeline, render


def _run(*cmd: str, data: bytes | None = None) -> str:
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout.decode()


def test_rendered_notice_is_pdfa_2b_with_every_font_embedded(sample_pdf, tmp_path):
    path = tmp_path / "notice.pdf"
    path.write_bytes(sample_pdf)
    meta = _run("pdfinfo", "-meta", str(path))
    assert "<pdfaid:part>2</pdfaid:part>" in meta
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in meta
    fonts = _run("pdffonts", str(path)).splitlines()[2:]
    assert fonts, "no fonts found"
    for line in fonts:
        assert line.split()[-5] == "yes", f"font not embedded: {line}"
    text = _run("pdftotext", str(path), "-")
    assert "comunicazione di avvio del procedimento" in text
    assert "Bianchi Anna" in text
    assert "Codice di verifica: codice-di-prova" in text


def test_the_qr_code_on_the_page_leads_to_the_verification_page(sample_pdf, tmp_path):
    path = tmp_path / "notice.pdf"
    path.write_bytes(sample_pdf)
    _run("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page"))
    page = next(tmp_path.glob("page*.png"))
    decoded = _run("zbarimg", "--quiet", "--raw", str(page)).strip()
    assert decoded == pipeline.verification_url("codice-di-prova")
    assert decoded.endswith("/verifica/codice-di-prova")


def test_the_warm_pool_converts_with_each_instance_on_its_own_profile(converter):
    profiles = {inst.profile for inst in converter._instances}
    assert len(profiles) == converter.size == 2
    assert all(p.is_absolute() for p in profiles)


def test_a_corrupt_docx_gives_a_clear_conversion_error(converter):
    from documents.errors import ConversionFailed

    with pytest.raises(ConversionFailed) as err:
        render.docx_to_pdfa(b"PK\x03\x04 this is not really a document")
    assert err.value.code == "conversion_failed"
    # the pool still works afterwards
    from documents import samples, templates

    out = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
    assert render.docx_to_pdfa(out).startswith(b"%PDF-")


def test_a_dead_converter_is_replaced_and_the_document_still_converts(converter):
    import os
    import signal

    from documents import samples, templates

    victim = converter._instances[0]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait()
    docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
    for _ in range(converter.size + 1):  # every slot is used at least once
        assert render.docx_to_pdfa(docx).startswith(b"%PDF-")
    assert all(inst.process.poll() is None for inst in converter._instances)
    assert victim not in converter._instances
