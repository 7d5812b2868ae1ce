"""Procedure bundles as zip files, so municipalities can share their models.

Export writes every file of a version or draft under `<process_id>/`. Import reads an uploaded zip
defensively: an archive is hostile until proven otherwise.

- size of the upload, number of entries, declared and *actual* size of each entry and of the whole
  (a zip bomb lies in its headers: entries are read in bounded chunks and refused past the limit),
  compression ratio;
- names: the same rules as a draft's paths (relative, no "..", no backslashes, no drive letters,
  known extensions), after removing one optional top folder; duplicates refused;
- no symbolic links, no encrypted entries; text files must be UTF-8.

Nothing is written to disk: entries go from the archive to memory to the draft's row.
"""

from __future__ import annotations

import base64
import io
import stat
import zipfile
from collections.abc import Mapping

from django.utils.translation import gettext as _

from common.errors import ValidationFailed

from .paths import (
    _SEGMENT,
    BINARY_EXTENSIONS,
    MAX_BINARY_BYTES,
    MAX_FILES,
    MAX_TEXT_BYTES,
    MAX_TOTAL_BYTES,
    check_totals,
    clean_path,
    extension,
    stored_content,
)

MAX_UPLOAD_BYTES = 10_000_000
MAX_ENTRIES = MAX_FILES + 50  # folders count as entries too
MAX_RATIO = 200  # text compresses well, a bomb compresses absurdly well
_CHUNK = 64 * 1024


def export_zip(process_id: str, files: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            content = files[path]
            data = base64.b64decode(content.removeprefix("base64:")) if content.startswith("base64:") \
                else content.encode("utf-8")
            info = zipfile.ZipInfo(f"{process_id}/{path}", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _refused(message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"file": [message]})


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    chunks, size = [], 0
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _refused(_("Il file %(p)s nell'archivio è troppo grande.") % {"p": info.filename},
                               "zip_entry_too_large")
            chunks.append(chunk)
    return b"".join(chunks)


def import_zip(data: bytes) -> tuple[str | None, dict[str, str]]:
    """(the top folder's name if the archive has one, the files as a draft stores them)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refused(_("L'archivio supera i %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 1_000_000}, "zip_too_large")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _refused(_("Il file non è un archivio zip valido."), "zip_invalid") from exc
    if len(infos) > MAX_ENTRIES:
        raise _refused(_("L'archivio contiene troppi file."), "zip_too_many_entries")
    entries = [i for i in infos if not i.is_dir()]
    for info in entries:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _refused(_("L'archivio contiene un collegamento simbolico (%(p)s): non è ammesso.")
                           % {"p": info.filename}, "zip_symlink")
        if info.flag_bits & 0x1:
            raise _refused(_("L'archivio contiene file cifrati: non sono ammessi."), "zip_encrypted")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise _refused(_("Il file %(p)s nell'archivio è compresso in modo anomalo.") % {"p": info.filename},
                           "zip_ratio")
    if sum(i.file_size for i in entries) > MAX_TOTAL_BYTES:
        raise _refused(_("L'archivio, decompresso, supera la dimensione massima."), "zip_too_large")
    names = [i.filename for i in entries]
    top = _single_top_folder(names)
    files: dict[str, str] = {}
    total = 0
    for info in entries:
        name = info.filename[len(top) + 1:] if top else info.filename
        try:
            path = clean_path(name)
        except ValidationFailed as exc:
            raise _refused(_("Nome di file non ammesso nell'archivio: %(p)s. %(why)s")
                           % {"p": info.filename[:200], "why": exc.message}, exc.code) from exc
        if path in files:
            raise _refused(_("Il file %(p)s compare due volte nell'archivio.") % {"p": path}, "zip_duplicate")
        binary = extension(path) in BINARY_EXTENSIONS
        try:
            raw = _read_bounded(archive, info, MAX_BINARY_BYTES if binary else MAX_TEXT_BYTES)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
            raise _refused(_("Il file %(p)s nell'archivio non si legge.") % {"p": path}, "zip_invalid") from exc
        total += len(raw)
        if total > MAX_TOTAL_BYTES:
            raise _refused(_("L'archivio, decompresso, supera la dimensione massima."), "zip_too_large")
        if binary:
            content = "base64:" + base64.b64encode(raw).decode()
        else:
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _refused(_("Il file %(p)s non è testo UTF-8.") % {"p": path}, "zip_not_utf8") from exc
        files[path] = stored_content(path, content)
    check_totals(files)
    if not files:
        raise _refused(_("L'archivio è vuoto."), "zip_empty")
    return top, files


def _single_top_folder(names: list[str]) -> str | None:
    """The one folder every entry sits in (`residence_change/...`), if there is exactly one."""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1 and all("/" in n for n in names):
        top = tops.pop()
        if _SEGMENT.match(top):  # "..", "", "C:" stay in the names, which then fail the path check
            return top
    return None
