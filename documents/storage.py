"""Content-addressed, immutable storage of document bytes: the SHA-256 is the name.

Filesystem by default (<root>/ab/cd/<sha256>); S3-compatible object storage through
django-storages when settings.STORAGES has a "documents" entry (PROCEDO_S3_BUCKET and friends,
config/settings.py), under the same ab/cd/<sha256> keys. A stored blob is never overwritten: a
correction is a new document with a new hash. Every read is checked against its hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from django.utils.translation import gettext as _

from common.errors import NotFound

from . import conf

logger = logging.getLogger(__name__)
_SHA = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _path(sha: str, root: Path | None = None) -> Path:
    if not _SHA.match(sha):
        raise NotFound(_("Documento non trovato."))
    return (root or conf.storage_root()) / sha[:2] / sha[2:4] / sha


def _object_storage(root: Path | None):
    """The configured object storage, or None for the filesystem (always when `root` is given)."""
    from django.conf import settings

    if root is not None or "documents" not in getattr(settings, "STORAGES", {}):
        return None
    from django.core.files.storage import storages

    return storages["documents"]


def _key(sha: str) -> str:
    if not _SHA.match(sha):
        raise NotFound(_("Documento non trovato."))
    return f"{sha[:2]}/{sha[2:4]}/{sha}"


def put(data: bytes, *, root: Path | None = None) -> str:
    """Store bytes, return their SHA-256. Written to a temporary file then renamed,
    so a reader never sees half a document; an existing blob is left untouched."""
    sha = sha256_hex(data)
    remote = _object_storage(root)
    if remote is not None:
        from django.core.files.base import ContentFile

        key = _key(sha)
        if not remote.exists(key):
            saved = remote.save(key, ContentFile(data))
            if saved != key:  # someone stored the same bytes at the same moment: keep one copy
                remote.delete(saved)
        return sha
    target = _path(sha, root)
    if target.exists():
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o440)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def get(sha: str, *, root: Path | None = None) -> bytes:
    remote = _object_storage(root)
    if remote is not None:
        key = _key(sha)
        try:
            with remote.open(key, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, OSError) as exc:
            raise NotFound(_("Documento non trovato.")) from exc
    else:
        path = _path(sha, root)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(_("Documento non trovato.")) from exc
    if sha256_hex(data) != sha:
        logger.error("stored document %s does not match its hash", sha)
        raise NotFound(_("Il documento archiviato risulta alterato."), code="corrupt_blob")
    return data


def exists(sha: str, *, root: Path | None = None) -> bool:
    remote = _object_storage(root)
    if remote is not None:
        return remote.exists(_key(sha))
    return _path(sha, root).exists()
