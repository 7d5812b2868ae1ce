"""Demo publications (demo data only): one current, one ended (its report is signed by the
periodic job), one scheduled, on each demo municipality's notice board."""

from __future__ import annotations

import datetime as dt

from accounts.models import Tenant, User
from common import clock

from . import services
from .models import Publication


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with some lines of text (Helvetica, WinAnsi), built without a library."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 12 Tf 60 780 Td 16 TL " + " ".join(f"({esc(line)}) '" for line in lines) + " ET"
    stream = content.encode("cp1252", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


SAMPLES = [
    # title, category, days, start offset from today (days), body
    ("Pubblicazione di matrimonio tra Luca Neri e Giulia Conti", "pubblicazioni_matrimonio", 8, -2,
     "Si rende noto che Luca Neri, nato a Lucca, residente in questo Comune, e Giulia Conti, nata a Pisa, "
     "residente in questo Comune, intendono celebrare matrimonio civile."),
    ("Ordinanza di chiusura al traffico di via Roma per lavori", "ordinanza", 15, -20,
     "Divieto di transito e di sosta in via Roma, nel tratto tra piazza San Michele e via del Fosso."),
    ("Avviso pubblico per l'aggiornamento dell'albo degli scrutatori", "avviso", 30, 3,
     "Le domande si presentano all'Ufficio elettorale entro il 30 novembre."),
]


def load_demo_publications(tenant: Tenant) -> int:
    if Publication.objects.filter(tenant=tenant).exists():
        return 0
    officer = User.objects.get(username=f"civil_registrar.{tenant.slug}")
    today = clock.today()
    for title, category, days, offset, body in SAMPLES:
        document = services.publication_document_upload(
            tenant=tenant, actor=officer, data=text_pdf([tenant.name, "Albo pretorio online", "", title, "", body]),
            filename=f"{category}.pdf")
        publication = services.publication_create(
            tenant=tenant, actor=officer, title=title, body=body, category=category, document=document, days=days,
            start_date=max(today, today + dt.timedelta(days=offset)), office="Servizi demografici",
            responsible=officer.get_full_name() or officer.username)
        if offset < 0:  # demo data only: a publication that started (or ended) before today
            start = today + dt.timedelta(days=offset)
            Publication.objects.filter(pk=publication.pk).update(
                start_date=start, end_date=services.publication_end_date(start=start, days=days))
    return len(SAMPLES)
