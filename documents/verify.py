"""Validation of signed PDFs with pyHanko: level, signer, timestamp, integrity."""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from django.utils.translation import gettext as _
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from .errors import FileRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignatureReport:
    field: str
    signer: str
    level: str  # B-B, B-T, B-LT (B-LTA when a document timestamp follows)
    intact: bool  # the signed bytes were not changed
    valid: bool  # cryptographically valid
    trusted: bool  # chain to a trusted root
    signing_time: datetime | None
    timestamp: datetime | None  # RFC 3161 signature timestamp
    covers_whole_document: bool

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("signing_time", "timestamp"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


def _level(reader: PdfFileReader, has_timestamp: bool) -> str:
    if not has_timestamp:
        return "B-B"
    dss = reader.root.get("/DSS")
    if dss is None:
        return "B-T"
    doc_ts = any(s.sig_object.get("/Type") == "/DocTimeStamp" for s in reader.embedded_signatures)
    return "B-LTA" if doc_ts else "B-LT"


def verify_pdf(data: bytes, *, trust_roots: list[asn1_x509.Certificate] | None = None) -> list[SignatureReport]:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_regular_signatures
    except (PdfReadError, ValueError, KeyError) as exc:
        logger.warning("verify: unreadable PDF: %s", exc)
        raise FileRejected(_("Il file non è un PDF leggibile."), code="pdf_corrupt") from exc
    vc = ValidationContext(trust_roots=trust_roots or [], allow_fetching=False, revocation_mode="soft-fail")
    reports = []
    for sig in signatures:
        status = validate_pdf_signature(sig, vc)
        ts = status.timestamp_validity
        cert = status.signing_cert
        reports.append(SignatureReport(
            field=sig.field_name,
            signer=cert.subject.human_friendly if cert is not None else "",
            level=_level(reader, ts is not None),
            intact=bool(status.intact),
            valid=bool(status.valid),
            trusted=bool(status.trusted),
            signing_time=status.signer_reported_dt,
            timestamp=ts.timestamp if ts is not None else None,
            covers_whole_document=status.coverage.name in ("ENTIRE_FILE", "ENTIRE_REVISION"),
        ))
    return reports
