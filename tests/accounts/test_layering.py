"""accounts sits below cases and documents (the architecture: dependencies point one way): no
module of the accounts package may import them, at module level or inside a function. Tenant
administration, which needs all three, lives in backoffice."""

from __future__ import annotations

import ast
from pathlib import Path

import accounts

FORBIDDEN = ("cases", "documents", "backoffice")
PACKAGE_DIR = Path(accounts.__file__).parent


def _imported_modules(source: str, path: Path) -> set[str]:
    """Absolute names of every module the source of `path` imports (relative imports resolved), plus
    the string argument of any importlib.import_module()/__import__() call."""
    package = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(parts + ([node.module] if node.module else []))
            if module:
                found.add(module)
            found.update(f"{module}.{alias.name}" if module else alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _offending(path: Path, source: str | None = None) -> list[str]:
    if source is None:
        source = path.read_text(encoding="utf-8")
    return sorted(m for m in _imported_modules(source, path) if m.split(".")[0] in FORBIDDEN)


def test_accounts_imports_neither_cases_nor_documents():
    offences = {
        str(path.relative_to(PACKAGE_DIR.parent)): bad
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if (bad := _offending(path))
    }
    assert offences == {}


def test_the_scan_sees_every_kind_of_import():
    """The check itself: each way of importing is caught (so an empty result above means something)."""
    module = PACKAGE_DIR / "views.py"
    source = (
        "import cases.models\n"
        "from documents import services\n"
        "def f():\n"
        "    from cases.selectors import case_get\n"
        "    import importlib\n"
        "    importlib.import_module('documents.models')\n"
        "from . import selectors\n"
        "from .. import cases as c\n"
    )
    assert _offending(module, source) == ["cases", "cases.models", "cases.selectors", "cases.selectors.case_get",
                                  "documents", "documents.models", "documents.services"]
