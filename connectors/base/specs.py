"""Where the official interface files the connectors validate against live: inside the project.

Each platform package ships the XSD / OpenAPI files it uses at run time
(`connectors/<platform>/schemas/`, `connectors/<platform>/openapi/`, each with a
README naming source, commit and licence). A spec is named by its path relative
to the `connectors` package, e.g. `"appio/openapi/index.yaml"`; nothing here reads
a folder outside the project, so a fresh machine validates exactly what CI did.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spec_path(relpath: str) -> Path:
    """The shipped file `relpath` (relative to the connectors package); refuses to leave the package."""
    path = (ROOT / relpath).resolve()
    if not path.is_relative_to(ROOT):
        raise ValueError(f"spec {relpath!r} is outside the connectors package")
    return path
