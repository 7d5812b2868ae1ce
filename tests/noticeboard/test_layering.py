"""The notice board sits above cases and documents: nothing below it imports it (load_demo calls
its command by name)."""

from __future__ import annotations

from pathlib import Path

from tests.accounts.test_layering import _imported_modules

ROOT = Path(__file__).resolve().parents[2]
BELOW = ("accounts", "audit", "common", "engine", "forms", "cases", "connectors", "documents")


def _noticeboard_imports(path: Path, source: str | None = None) -> list[str]:
    # the helper resolves relative imports against the project root, the parent of every package
    found = _imported_modules(source if source is not None else path.read_text(encoding="utf-8"), path)
    return sorted(m for m in found if m.split(".")[0] == "noticeboard")


def test_no_lower_package_imports_the_noticeboard():
    offences = {str(path.relative_to(ROOT)): bad for package in BELOW
                for path in sorted((ROOT / package).rglob("*.py")) if (bad := _noticeboard_imports(path))}
    assert offences == {}


def test_the_scan_sees_an_import_inside_a_function():
    path = ROOT / "cases" / "services.py"
    assert _noticeboard_imports(path, "def f():\n    from noticeboard.services import publication_create\n") == [
        "noticeboard.services", "noticeboard.services.publication_create"]
