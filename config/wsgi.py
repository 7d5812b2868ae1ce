import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _freeze_startup_objects() -> None:
    """Everything loaded at start-up (Django, every app, the URLconf and its views, translations) lives
    as long as the process: move it out of the garbage collector's sight (gc.freeze), so a full
    collection walks only what requests allocate. Measured by bench/scale: a full collection of a web
    process took ~110 ms of CPU, landing on one request in a few hundred (the inbox API's worst case);
    with the start-up objects frozen it is gone."""
    from django.urls import get_resolver

    from common import fiscal_code

    get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on a first request
    fiscal_code.warm()  # the birthplace table (~2 s to build), not on the first request that checks a code
    gc.collect()
    gc.freeze()


if os.environ.get("PROCEDO_GC_FREEZE", "1") != "0":
    _freeze_startup_objects()
