"""The citizen area's PDFs, on the certificates' layout (convert once per municipality, then an
overlay per document: no LibreOffice run per receipt): the request as filed, its sealed receipt,
the sealed certificate-request receipts and the pagoPA payment notice."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant
from documents import conf as documents_conf
from documents import pipeline, signing
from documents.services import signer_for_role
from registry.certificates import fastpdf
from registry.certificates.services import SIGNER_ROLE, base_for

FOOTER = ("Documento informatico prodotto dai servizi online del Comune. Le ricevute sono sigillate "
          "elettronicamente (art. 20 D.Lgs. 82/2005) e verificabili con il codice e il QR riportati.")


@dataclass(frozen=True)
class _Layout:
    """What registry.certificates.services.base_for needs of a layout: a code and its arguments."""

    code: str
    layout_args: tuple[str, ...]


ONLINE = _Layout("portale", ("Servizi demografici online", "Servizi demografici", "", FOOTER))


def _fit(lines: list[fastpdf.Line], seal: list[str], qr: str) -> bytes:
    """The overlay; a body too long for one page is cut, saying so (the case keeps every datum)."""
    body = list(lines)
    while True:
        try:
            return fastpdf.overlay_ops(body, seal, qr)
        except fastpdf.OverlayError:
            if len(body) <= 4:
                raise
            body = body[: max(4, len(body) - 5)] + [fastpdf.Line(_("(continua: i dati completi sono nella pratica)"),
                                                                 space_before=6)]


def sealed_pdf(*, tenant: Tenant, title: str, lines: list[fastpdf.Line]) -> tuple[bytes, str, str]:
    """A sealed one-page PDF with a verification code and QR: (pdf, code, signature level)."""
    base = base_for(tenant, ONLINE)
    signer, signer_name = signer_for_role(SIGNER_ROLE)
    tsa = documents_conf.tsa_url()
    level = signing.Level.B_T if tsa else signing.Level.B_B
    code = pipeline.new_verification_code()
    url = pipeline.verification_url(code)
    seal = [
        _("%(title)s, prodotto il %(date)s.") % {"title": title, "date": timezone.localtime().strftime("%d/%m/%Y %H:%M")},
        _("Sigillo elettronico qualificato dell'ente: %(signer)s.") % {"signer": signer_name},
        _("Codice di verifica: %(code)s") % {"code": code},
        _("Verificabile su %(url)s") % {"url": url},
    ]
    writer = fastpdf.fill_writer(base, _fit([fastpdf.Line(title, bold=True), *lines], seal, url))
    signed = signing.sign_pdf(writer, signer=signer, level=level, tsa_url=tsa or None)
    return signed, code, level.value


def plain_pdf(*, tenant: Tenant, title: str, lines: list[fastpdf.Line], qr_text: str, footer: list[str]) -> bytes:
    """An unsealed one-page PDF (the request as filed, a payment notice) with a QR of `qr_text`."""
    base = base_for(tenant, ONLINE)
    return fastpdf.fill(base, _fit([fastpdf.Line(title, bold=True), *lines], footer, qr_text))
