"""English is available for every page: the catalog must hold every string the code marks for
translation, translated, with no fuzzy guesses. The check extracts the strings afresh with
`makemessages` in a scratch copy of the source (the real catalog is never touched) and counts what
is missing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What makemessages reads: the project's apps, templates and settings (not tests, bench, vendored code).
SKIP = {".venv", "frontend", "tests", "var", "bench", ".git", "static", "deploy", "scripts", "node_modules"}


def _stats(po: Path) -> str:
    return subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True, text=True, check=True,
    ).stderr


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext not installed: run `make test`")
def test_every_marked_string_has_an_english_translation(tmp_path):
    for entry in ROOT.iterdir():
        if entry.name in SKIP or entry.name.startswith("."):
            continue
        target = tmp_path / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy2(entry, target)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "-v", "0", "--no-obsolete"],
        cwd=tmp_path, check=True, env={"PROCEDO_ENV": "test", "PATH": "/usr/bin:/bin"},
    )
    stats = _stats(tmp_path / "locale" / "en" / "LC_MESSAGES" / "django.po")
    assert "untranslated" not in stats and "fuzzy" not in stats, (
        "English catalog incomplete (" + stats.strip() + "): run makemessages -l en and translate "
        "the new entries in locale/en/LC_MESSAGES/django.po"
    )
