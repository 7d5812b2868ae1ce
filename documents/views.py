"""Public verification page (no login): /verifica/<code>.

Shows issuing tenant, document type, date, SHA-256, signer, signature validity and
whether the document was revoked; a person can upload a PDF to check it is the
original (hash comparison, nothing is stored).
"""

from __future__ import annotations

import hashlib
import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import conf, selectors, storage
from .verify import verify_pdf

logger = logging.getLogger(__name__)


@require_http_methods(["GET", "POST"])
def verification_page(request: HttpRequest, code: str) -> HttpResponse:
    doc = selectors.document_by_code(code=code) if len(code) <= 40 else None
    if doc is None:
        return render(request, "documents/verifica.html", {"found": False}, status=404)
    signature = None
    try:
        reports = verify_pdf(storage.get(doc.sha256))
        signature = reports[0] if reports else None
    except Exception:  # a broken blob is shown as "not verifiable", never a 500
        logger.exception("verification page: document %s not verifiable", doc.pk)
    comparison = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            comparison = {"ok": False, "message": _("Selezionare un file PDF da confrontare.")}
        elif upload.size > conf.max_upload_bytes():
            comparison = {"ok": False, "message": _("Il file supera la dimensione massima consentita.")}
        else:
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            same = digest.hexdigest() == doc.sha256
            comparison = {"ok": same, "sha256": digest.hexdigest(), "message": (
                _("Il file caricato è identico all'originale.") if same
                else _("Il file caricato NON corrisponde all'originale."))}
    return render(request, "documents/verifica.html", {
        "found": True, "doc": doc, "tenant": doc.tenant, "signature": signature, "comparison": comparison,
        "revoked": doc.revoked_at is not None,
    })
