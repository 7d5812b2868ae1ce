"""Runaway templates (issue 17, finding 2): loops that never check a deadline and memory bombs
are stopped by limits the template cannot dodge (a child process with wall-clock, CPU and
memory limits); the process that asked for the rendering stays healthy."""

from __future__ import annotations

import io
import multiprocessing
import resource
import time

import pytest
from docx import Document

from documents import samples, templates
from documents.errors import RenderFailed

# Three nested loops over a long string: 8 * 10^9 empty iterations, no call, no output, no
# attribute access: nothing in the template engine ever looks at a clock.
NESTED_LOOPS = ("{% for a in testo %}{% for b in testo %}{% for c in testo %}"
                "{% endfor %}{% endfor %}{% endfor %}fine")
# A string squared twice with replace(): about a gigabyte, past every in-process size check.
REPLACE_BOMB = "{{ testo|replace('', testo)|replace('', testo) }}"
# A huge list joined: range() is within its budget, the join is not.
JOIN_BOMB = "{{ range(99999)|join(testo ~ testo ~ testo ~ testo ~ testo) }}"


def _docx(body: str) -> bytes:
    doc = Document()
    doc.add_paragraph(body)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@pytest.fixture
def low_limits(settings):
    settings.PROCEDO_TEMPLATE_RENDER_SECONDS = 3
    settings.PROCEDO_TEMPLATE_RENDER_CPU_SECONDS = 20
    settings.PROCEDO_TEMPLATE_RENDER_MEMORY_MB = 400
    return settings


def _parent_is_healthy(started_rss_kb: int) -> None:
    assert multiprocessing.active_children() == []  # the render child was reaped
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - started_rss_kb) / 1024
    assert grown_mb < 100  # the bomb went off in the child, not here
    out = templates.render_docx(samples.comunicazione_avvio_docx(), context=samples.comunicazione_avvio_data())
    assert "Rossi Mario" in "\n".join(p.text for p in Document(io.BytesIO(out)).paragraphs)


def test_nested_loops_over_a_long_string_are_killed_at_the_wall_clock_limit(low_limits):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(RenderFailed) as err:
        templates.render_docx(_docx(NESTED_LOOPS), context={"testo": "x" * 2000})
    assert time.monotonic() - started < 3 + 4
    assert err.value.code == "template_limit"
    assert "troppo tempo o troppa memoria" in err.value.message
    _parent_is_healthy(rss)


def test_the_cpu_limit_stops_a_loop_before_the_wall_clock(low_limits):
    low_limits.PROCEDO_TEMPLATE_RENDER_SECONDS = 60
    low_limits.PROCEDO_TEMPLATE_RENDER_CPU_SECONDS = 1
    started = time.monotonic()
    with pytest.raises(RenderFailed) as err:
        templates.render_docx(_docx(NESTED_LOOPS), context={"testo": "x" * 2000})
    assert time.monotonic() - started < 20
    assert err.value.code == "template_limit"


@pytest.mark.parametrize("body", [REPLACE_BOMB, JOIN_BOMB], ids=["replace", "join"])
def test_a_memory_bomb_is_stopped_by_the_memory_limit(low_limits, body):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RenderFailed) as err:
        templates.render_docx(_docx(body), context={"testo": "x" * 1000})
    assert err.value.code == "template_limit"
    assert "troppo tempo o troppa memoria" in err.value.message
    _parent_is_healthy(rss)


def test_the_upload_refuses_a_runaway_template(low_limits):
    """At upload the sample data are short; a loop over a literal string needs no data at all."""
    body = ("{% for a in '" + "x" * 3000 + "' %}{% for b in '" + "x" * 3000 + "' %}{% for c in '"
            + "x" * 3000 + "' %}{% endfor %}{% endfor %}{% endfor %}")
    started = time.monotonic()
    with pytest.raises(Exception) as err:
        templates.validate_template(_docx(body), schema={})
    assert time.monotonic() - started < 3 + 4
    assert getattr(err.value, "code", None) == "template_limit"
    assert "corpo del documento" in err.value.message


def test_rendering_works_inside_a_celery_prefork_worker():
    """Deeds are rendered by Celery's prefork workers: daemonic processes, where
    multiprocessing.Process.start() refuses children and billiard's keys refuse pickling."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.documents.celery_render_app import app

    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.documents.celery_render_app", "worker", "--pool=prefork",
         "-c", "1", "--loglevel=WARNING", "-Q", "render_test", "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ok = app.send_task("render_test.render", queue="render_test").get(timeout=60)
        assert ok["bytes"] > 10_000
        runaway = app.send_task("render_test.render", args=[NESTED_LOOPS.replace("testo", "'" + "x" * 3000 + "'")],
                                queue="render_test").get(timeout=60)
        assert runaway == {"refused": "limit"}
        again = app.send_task("render_test.render", queue="render_test").get(timeout=60)
        assert again["bytes"] > 10_000
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


class _Planted:
    """What a rendering process that escaped the sandbox might send: a pickle that runs code when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_the_parent_never_unpickles_what_the_render_process_sends(tmp_path):
    import multiprocessing
    import pickle

    from documents.sandbox import _receive

    marker = tmp_path / "planted"
    receive, send = multiprocessing.Pipe(duplex=False)
    send.send(_Planted(marker))  # a plain Connection.send pickles
    with pytest.raises(EOFError):
        _receive(receive)
    assert not marker.exists()
    send.send_bytes(b"J" + b'["refused", "limit", "corpo", "", "memory"]')
    assert _receive(receive) == ("refused", "limit", "corpo", "", "memory")
    send.send_bytes(b"O" + pickle.dumps(b"docx"))  # bytes after O are the document, never loaded
    assert _receive(receive)[0] == "ok"
    assert not marker.exists()
