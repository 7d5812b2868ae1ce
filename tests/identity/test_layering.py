"""identity sits at the level of accounts: it may use accounts, audit and common, never the layers above
(cases, documents, registry, backoffice, forms, engine, connectors)."""

from __future__ import annotations

from pathlib import Path

import identity
from tests.accounts.test_layering import _imported_modules

FORBIDDEN = ("cases", "documents", "registry", "backoffice", "forms", "engine", "connectors", "portal")
PACKAGE_DIR = Path(identity.__file__).parent


def test_identity_imports_nothing_above_accounts():
    offences = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        found = {m for m in _imported_modules(path.read_text(encoding="utf-8"), path) if m.split(".")[0] in FORBIDDEN}
        if found:
            offences[str(path.relative_to(PACKAGE_DIR.parent))] = sorted(found)
    assert offences == {}
    assert (PACKAGE_DIR / "views.py") in set(PACKAGE_DIR.rglob("*.py"))  # the scan sees the package
