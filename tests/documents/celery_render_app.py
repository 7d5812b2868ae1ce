"""A bare Celery app for tests/documents/test_template_limits.py: a prefork worker (daemonic
billiard processes) renders templates in the sandbox's child processes."""

from __future__ import annotations

import os

from celery import Celery

from documents import samples, sandbox

URL = os.environ.get("PROCEDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
app = Celery("procedo_render_test", broker=URL, backend=URL)


@app.task(name="render_test.render")
def render(body: str | None = None) -> dict:
    import io

    from docx import Document

    data = samples.comunicazione_avvio_docx()
    if body is not None:
        doc = Document()
        doc.add_paragraph(body)
        out = io.BytesIO()
        doc.save(out)
        data = out.getvalue()
    try:
        rendered = sandbox.render_isolated(data, context=samples.comunicazione_avvio_data(),
                                           limits=sandbox.Limits(wall_seconds=3, cpu_seconds=10))
    except sandbox.Refused as exc:
        return {"refused": exc.kind}
    return {"bytes": len(rendered)}
