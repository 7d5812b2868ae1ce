"""The SLA report as a PDF: the chart (vector bars) and the table per level, with the tickets of the
month, written directly (no LibreOffice round trip for a one-page report).

A4 pages, the standard Helvetica fonts in WinAnsi encoding (Italian accents included; characters
outside it become "?"), every text escaped for PDF strings. Not PDF/A: the report is a working
document to download, not a deed to keep; the figures are those of `support.report.sla_report`.
"""

from __future__ import annotations

from typing import Any

PAGE_W, PAGE_H, MARGIN = 595.28, 841.89, 48
GREEN, RED = (0.0, 0.38, 0.0), (0.65, 0.1, 0.1)


def _pdf_text(value: Any) -> str:
    raw = str(value).encode("cp1252", errors="replace")
    out = []
    for byte in raw:
        char = chr(byte)
        if char in "()\\":
            out.append("\\" + char)
        elif byte < 32 or byte > 126:
            out.append(f"\\{byte:03o}")
        else:
            out.append(char)
    return "(" + "".join(out) + ")"


class _Page:
    def __init__(self) -> None:
        self.ops: list[str] = []

    def text(self, x: float, y: float, value: Any, *, size: float = 10, bold: bool = False) -> None:
        font = "F2" if bold else "F1"
        self.ops.append(f"BT /{font} {size:g} Tf {x:.2f} {y:.2f} Td {_pdf_text(value)} Tj ET")

    def rect(self, x: float, y: float, w: float, h: float, rgb: tuple[float, float, float], *,
             dashed: bool = False) -> None:
        r, g, b = rgb
        self.ops.append(f"q {r:g} {g:g} {b:g} rg {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f Q")
        if dashed:
            self.ops.append(f"q [3 2] 0 d 0.5 w 0 G {x:.2f} {y:.2f} {w:.2f} {h:.2f} re S Q")

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.ops.append(f"q 0.5 w 0 G {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S Q")

    def content(self) -> bytes:
        return "\n".join(self.ops).encode("latin-1")


def _clip(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write(pages: list[_Page], title: str) -> bytes:
    objects: list[bytes] = []
    # 1 catalog, 2 pages, 3 F1, 4 F2, 5 info, then per page: page, content
    kids = " ".join(f"{6 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for name in ("Helvetica", "Helvetica-Bold"):
        objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>".encode())
    objects.append(f"<< /Title {_pdf_text(title)} /Producer (Procedo) >>".encode("latin-1"))
    for i, page in enumerate(pages):
        content_ref = 7 + 2 * i
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
                       f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_ref} 0 R >>".encode())
        body = page.content()
        objects.append(f"<< /Length {len(body)} >>\nstream\n".encode() + body + b"\nendstream")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def report_pdf(report: dict[str, Any], *, tenant_name: str) -> bytes:
    year, month = report["year"], report["month"]
    title = f"Livelli di servizio: report di {month:02d}/{year:04d}"
    pages = [_Page()]
    page = pages[0]
    y = PAGE_H - MARGIN
    page.text(MARGIN, y, tenant_name, size=10)
    y -= 22
    page.text(MARGIN, y, title, size=16, bold=True)
    y -= 18
    page.text(MARGIN, y, "Segnalazioni chiuse nel mese; durate in minuti di orario di servizio.", size=9)

    # chart: a stacked bar per level
    rows = report["levels"]
    peak = max([r.tickets for r in rows] + [1])
    left, bar_w_max, bar_h = MARGIN + 60, PAGE_W - 2 * MARGIN - 120, 16
    y -= 30
    for row in rows:
        met_w, missed_w = bar_w_max * row.met / peak, bar_w_max * row.missed / peak
        page.text(MARGIN, y + 4, f"Livello {row.level}", size=10)
        if met_w:
            page.rect(left, y, met_w, bar_h, GREEN)
        if missed_w:
            page.rect(left + met_w, y, missed_w, bar_h, RED, dashed=True)
        page.text(left + met_w + missed_w + 6, y + 4, f"{row.met} nei tempi / {row.missed} oltre", size=9)
        y -= bar_h + 10
    page.rect(left, y + 2, 9, 9, GREEN)
    page.text(left + 14, y + 3, "nei tempi", size=9)
    page.rect(left + 90, y + 2, 9, 9, RED, dashed=True)
    page.text(left + 104, y + 3, "oltre i tempi", size=9)

    # table per level
    columns = [("Livello", 0), ("Segnalazioni", 50), ("Nei tempi", 125), ("Oltre", 180), ("Media", 225),
               ("Massima", 270), ("Ritardo", 325), ("Penali EUR", 390)]
    y -= 36
    for label, dx in columns:
        page.text(MARGIN + dx, y, label, size=9, bold=True)
    y -= 6
    page.line(MARGIN, y, PAGE_W - MARGIN, y)
    for row in [*rows, report["total"]]:
        y -= 14
        cells = [row.level or "Totale", row.tickets, row.met, row.missed, row.average_minutes, row.max_minutes,
                 row.breach_minutes, row.penalty]
        for (_label, dx), value in zip(columns, cells, strict=True):
            page.text(MARGIN + dx, y, value, size=9, bold=not row.level)
    for row in rows:
        y -= 12
        page.text(MARGIN, y, _clip(f"Livello {row.level}: {row.label}", 110), size=8)

    # the tickets of the month
    y -= 28
    page.text(MARGIN, y, "Segnalazioni del mese", size=12, bold=True)
    ticket_cols = [("Numero", 0), ("Livello", 90), ("Chiusa il", 140), ("Durata", 240), ("Obiettivo", 300),
                   ("Esito", 365), ("Ritardo", 430), ("Penale EUR", 480)]
    y -= 18
    for label, dx in ticket_cols:
        page.text(MARGIN + dx, y, label, size=9, bold=True)
    if not report["tickets"]:
        y -= 14
        page.text(MARGIN, y, "Nessuna segnalazione chiusa nel mese.", size=9)
    for ticket in report["tickets"]:
        y -= 13
        if y < MARGIN:
            page = _Page()
            pages.append(page)
            y = PAGE_H - MARGIN
        cells = [ticket["number"], ticket["level"], ticket["closed_at"].strftime("%d/%m/%Y %H:%M"), ticket["minutes"],
                 ticket["target_minutes"], "nei tempi" if ticket["met"] else "oltre i tempi", ticket["breach_minutes"],
                 ticket["penalty"]]
        for (_label, dx), value in zip(ticket_cols, cells, strict=True):
            page.text(MARGIN + dx, y, value, size=9)
    for number, each in enumerate(pages, start=1):
        each.text(PAGE_W - MARGIN - 60, MARGIN / 2, f"Pagina {number} di {len(pages)}", size=8)
    return _write(pages, title)
