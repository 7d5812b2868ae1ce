"""What a file of a draft may be called and how big it may be.

Drafts live in the database, but their paths become zip entries and folder names when a bundle is
exported or synced, so they are held to the shape of a procedure folder: relative, forward slashes,
no "..", a known extension, a few levels deep, plain characters only.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from django.utils.translation import gettext as _

from common.errors import ValidationFailed

TEXT_EXTENSIONS = frozenset({".bpmn", ".dmn", ".json", ".yaml", ".yml", ".md"})
BINARY_EXTENSIONS = frozenset({".docx", ".odt"})
ALLOWED_EXTENSIONS = TEXT_EXTENSIONS | BINARY_EXTENSIONS
MAX_TEXT_BYTES = 1_000_000  # a BPMN of a large procedure is ~50 kB
MAX_BINARY_BYTES = 5_000_000  # a deed template
MAX_FILES = 200
MAX_TOTAL_BYTES = 20_000_000
MAX_DEPTH = 3
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def extension(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""


def clean_path(path: object) -> str:
    """The path if it is an acceptable relative path of a bundle file; ValidationFailed otherwise."""
    if not isinstance(path, str) or not path:
        raise _refused(_("Indica il percorso del file."), "path_missing")
    if len(path) > 200 or "\\" in path or path.startswith("/") or ":" in path:
        raise _refused(_("Percorso non ammesso: usa un percorso relativo come forms/modulo.schema.json."),
                       "path_not_allowed")
    segments = path.split("/")
    if len(segments) > MAX_DEPTH or any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        raise _refused(_("Percorso non ammesso: solo lettere, cifre, punto, trattino e trattino basso, "
                         "al massimo %(n)d livelli, niente \"..\".") % {"n": MAX_DEPTH}, "path_not_allowed")
    if extension(path) not in ALLOWED_EXTENSIONS:
        raise _refused(_("Tipo di file non ammesso: sono ammessi %(ext)s.")
                       % {"ext": ", ".join(sorted(ALLOWED_EXTENSIONS))}, "extension_not_allowed")
    return path


def stored_content(path: str, content: object) -> str:
    """The content as stored: text for text files, "base64:..." (checked) for DOCX/ODT; size-limited."""
    if not isinstance(content, str):
        raise _refused(_("Il contenuto del file deve essere testo."), "content_not_text")
    if extension(path) in BINARY_EXTENSIONS:
        if not content.startswith("base64:"):
            raise _refused(_("Un modello DOCX/ODT si carica come file, non come testo."), "binary_expected")
        try:
            raw = base64.b64decode(content.removeprefix("base64:"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _refused(_("Il contenuto del modello non è leggibile."), "binary_invalid") from exc
        if len(raw) > MAX_BINARY_BYTES:
            raise _too_big(path, MAX_BINARY_BYTES)
        if not raw.startswith(b"PK\x03\x04"):
            raise _refused(_("Il file %(p)s non è un documento DOCX/ODT.") % {"p": path}, "binary_invalid")
        return content
    if "\x00" in content:
        raise _refused(_("Il file contiene caratteri non ammessi."), "content_not_text")
    if len(content.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise _too_big(path, MAX_TEXT_BYTES)
    return content


def check_totals(files: Mapping[str, str]) -> None:
    if len(files) > MAX_FILES:
        raise _refused(_("Troppi file: al massimo %(n)d.") % {"n": MAX_FILES}, "too_many_files")
    if sum(len(v) for v in files.values()) > MAX_TOTAL_BYTES:
        raise _refused(_("Il procedimento supera la dimensione massima di %(mb)d MB.")
                       % {"mb": MAX_TOTAL_BYTES // 1_000_000}, "bundle_too_large")


def _too_big(path: str, limit: int) -> ValidationFailed:
    return _refused(_("Il file %(p)s supera la dimensione massima di %(kb)d kB.") % {"p": path, "kb": limit // 1000},
                    "file_too_large")


def _refused(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"path": [message]})
