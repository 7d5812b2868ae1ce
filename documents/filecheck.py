"""Uploads are judged by their content, never by their name or declared type."""

from __future__ import annotations

import io
import logging
import re

from django.utils.translation import gettext as _

from . import conf
from .errors import FileRejected

logger = logging.getLogger(__name__)

MAGIC = [
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
]
# Active content or attachments have no place in a filed document (and PDF/A forbids them).
_DANGEROUS = re.compile(rb"/(JavaScript|JS|EmbeddedFiles?|Launch|RichMedia|XFA)\b")


def sniff(head: bytes) -> tuple[str, str] | None:
    for magic, mime, ext in MAGIC:
        if head.startswith(magic):
            return mime, ext
    return None


def check_upload(data: bytes, *, declared_size: int | None = None) -> tuple[str, str]:
    """Return (mime, extension) or raise FileRejected with an Italian message."""
    limit = conf.max_upload_bytes()
    if (declared_size or len(data)) > limit:
        raise FileRejected(_("Il file supera la dimensione massima consentita (%(mb)s MB).") % {"mb": limit // (1024 * 1024)},
                           code="too_large")
    found = sniff(data[:16])
    if found is None:
        logger.info("upload refused: unknown content type")
        raise FileRejected(_("Sono ammessi solo file PDF, JPEG, PNG o TIFF."), code="unsupported_type")
    mime, ext = found
    if mime == "application/pdf":
        check_pdf(data)
    return mime, ext


def check_pdf(data: bytes) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        encrypted = reader.encrypted
        root = reader.root
    except Exception as exc:  # pyHanko raises several kinds on broken files
        logger.info("upload refused: corrupt PDF (%s)", exc)
        raise FileRejected(_("Il PDF è danneggiato o illeggibile."), code="pdf_corrupt") from exc
    if encrypted:
        raise FileRejected(_("Il PDF è protetto da password o cifrato: caricarne una copia non protetta."),
                           code="pdf_encrypted")
    hit = _DANGEROUS.search(data)
    names = root.get("/Names")
    if hit is None and isinstance(names, generic.DictionaryObject):
        if "/JavaScript" in names or "/EmbeddedFiles" in names:
            hit = True  # type: ignore[assignment]
    if hit is None:
        # Names inside compressed object streams: look at every object pyHanko can resolve.
        try:
            for ref in reader.xrefs.explicit_refs_in_revision(reader.xrefs.total_revisions - 1):
                obj = reader.get_object(ref)
                if isinstance(obj, generic.DictionaryObject) and (
                    obj.get("/S") in ("/JavaScript", "/Launch") or "/JS" in obj or "/EmbeddedFiles" in obj
                    or obj.get("/Type") == "/EmbeddedFile"
                ):
                    hit = True  # type: ignore[assignment]
                    break
        except Exception as exc:
            logger.info("upload refused: PDF objects unreadable (%s)", exc)
            raise FileRejected(_("Il PDF è danneggiato o illeggibile."), code="pdf_corrupt") from exc
    if hit is not None:
        logger.warning("upload refused: PDF with active content or attachments")
        raise FileRejected(_("Il PDF contiene JavaScript o file allegati e non può essere accettato."),
                           code="pdf_active_content")
