"""The WSGI entry point (what gunicorn loads) freezes the objects of start-up, so the garbage collector's
full collections no longer walk them (bench/scale measured ~110 ms per full collection without)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import gc; before = gc.get_freeze_count(); import config.wsgi; "
         "import django.urls; print(before, gc.get_freeze_count(), 'cases.views' in __import__('sys').modules)")


def _probe(**env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_loading_the_wsgi_application_freezes_the_start_up_objects_views_included():
    before, after, views_loaded = _probe()
    assert before == "0" and int(after) > 50_000 and views_loaded == "True"


def test_the_freeze_can_be_turned_off():
    assert _probe(PROCEDO_GC_FREEZE="0")[1] == "0"
