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
    # the whole converter (unoserver, oosplash, soffice.bin) dies; it leads its own process group
    # under the instance's guard
    (unoserver,) = render._children_of(victim.process.pid)
    os.killpg(unoserver, signal.SIGKILL)
    victim.process.wait(timeout=30)  # the guard reaps them all and exits
    docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
    for _ in range(converter.size + 1):  # every slot is used at least once
        assert render.docx_to_pdfa(docx).startswith(b"%PDF-")
    assert all(inst.process.poll() is None for inst in converter._instances)
    assert victim not in converter._instances


def _converter_tree(inst) -> list:
    """The guard of a pool instance and every process under it."""
    from . import procs

    return [procs.read(inst.process.pid), *procs.descendants(inst.process.pid)]


def test_a_killed_soffice_is_replaced_and_none_of_its_processes_is_left(converter):
    import os
    import signal

    from documents import samples, templates

    from . import procs

    victim = converter._instances[0]
    tree = _converter_tree(victim)
    soffice = next(p for p in tree if p.comm == "soffice.bin")
    os.kill(soffice.pid, signal.SIGKILL)  # LibreOffice crashes

    docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
    for _ in range(converter.size + 1):  # every slot is used at least once
        assert render.docx_to_pdfa(docx).startswith(b"%PDF-")
    assert victim not in converter._instances
    # guard, unoserver, oosplash and soffice.bin of the crashed converter: gone, and reaped
    assert procs.still_there(tree) == [], procs.describe(procs.still_there(tree))
    assert all(inst.process.poll() is None for inst in converter._instances)


def test_a_hung_converter_is_replaced_and_its_processes_are_killed():
    import os
    import signal
    import time

    from documents import samples, templates
    from documents.errors import ConversionFailed

    from . import procs

    pool = render.ConverterPool(size=1, timeout=3)
    pool.start()
    try:
        tree = _converter_tree(pool._instances[0])
        soffice = next(p for p in tree if p.comm == "soffice.bin")
        os.kill(soffice.pid, signal.SIGSTOP)  # LibreOffice stops answering mid-conversion
        docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())

        started = time.monotonic()
        with pytest.raises(ConversionFailed) as err:
            pool.convert(docx)
        assert err.value.code == "conversion_timeout"
        assert time.monotonic() - started < 3 + render.CALL_MARGIN + render.STOP_GRACE + 10
        assert procs.still_there(tree) == [], procs.describe(procs.still_there(tree))
        assert pool.convert(docx).startswith(b"%PDF-")  # the fresh converter works
    finally:
        pool.stop()


def test_stopping_a_pool_ends_and_reaps_every_converter_process_within_seconds():
    import time

    from . import procs

    pool = render.ConverterPool(size=2)
    pool.start()
    trees = [p for inst in pool._instances for p in _converter_tree(inst)]
    assert {"soffice.bin", "oosplash"} <= {p.comm for p in trees}

    started = time.monotonic()
    pool.stop()

    assert time.monotonic() - started < render.STOP_GRACE + 3
    assert procs.still_there(trees) == [], procs.describe(procs.still_there(trees))
    assert not pool.running


def test_a_cold_conversion_leaves_no_libreoffice_process_even_when_it_times_out(monkeypatch):
    import os

    from documents import conf, samples, templates
    from documents.errors import ConversionFailed

    from . import procs

    def new_converters() -> list:  # a session pool may be running: only what this test started
        return [p for p in procs.descendants(os.getpid()) if p.is_converter and p.key not in before]

    before = {p.key for p in procs.descendants(os.getpid())}
    docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
    assert render.convert_cold(docx).startswith(b"%PDF-")
    assert new_converters() == []

    monkeypatch.setattr(conf, "converter_timeout", lambda: 0.5)  # LibreOffice cannot even start in time
    with pytest.raises(ConversionFailed) as err:
        render.convert_cold(docx)
    assert err.value.code == "conversion_timeout"
    assert new_converters() == [], procs.describe(new_converters())


def test_converters_started_by_a_thread_that_ends_stay_up():
    """The kernel's parent-death signal fires when the spawning *thread* ends (Celery workers start
    converters from a short-lived thread): the guard must tell that from its owner's death."""
    import threading
    import time

    from documents import samples, templates

    from . import procs

    pool = render.ConverterPool(size=1)
    starter = threading.Thread(target=pool.start)
    starter.start()
    starter.join()
    try:
        (inst,) = pool._instances
        tree = _converter_tree(inst)
        time.sleep(render.STOP_GRACE + 1)  # long enough for a guard that stopped to have ended it all
        assert [p.key for p in procs.still_there(tree) if not p.is_zombie] == [p.key for p in tree if not p.is_zombie]
        docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
        assert pool.convert(docx).startswith(b"%PDF-")
        assert pool._instances == [inst]  # served by the same converter, not by a replacement
    finally:
        pool.stop()


def test_a_sigkilled_guard_leaves_no_libreoffice_running():
    """The one process whose death orphans LibreOffice is the guard itself; the pool kills what
    ran on the guard's profile. (The orphans' exit is then up to PID 1 to reap.)"""
    import os
    import signal

    from documents import samples, templates

    from . import procs

    pool = render.ConverterPool(size=1)
    pool.start()
    try:
        (inst,) = pool._instances
        tree = _converter_tree(inst)
        assert {"soffice.bin", "oosplash"} <= {p.comm for p in tree}
        os.kill(inst.process.pid, signal.SIGKILL)

        docx = templates.render_docx(samples.certificato_docx(), context=samples.certificato_data())
        assert pool.convert(docx).startswith(b"%PDF-")  # on a replacement
        assert pool._instances != [inst]
        alive = [p for p in procs.still_there(tree) if not p.is_zombie]
        assert alive == [], procs.describe(alive)
    finally:
        pool.stop()
