"""The DOCX layout of the registry certificates, built from code (the editable source: no binary
is committed). One layout per certificate type: the municipality's header (`{{ stemma }}`,
`{{ ente_nome }}`), the title, an empty body box the overlay fills (registry.certificates.fastpdf),
and the legal footer. Row heights are exact, so the body box sits where fastpdf.BODY_* says.

`python -m registry.certificates.layout <folder>` writes the .docx files, e.g. to hand them to
a municipality that wants to restyle its header.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from functools import cache
from pathlib import Path

from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt

from . import fastpdf

FONT = "Liberation Serif"
LAYOUT_VERSION = "1"  # bump when the geometry changes: every cached base is rebuilt

SIX_MONTHS = "Validità: sei mesi dalla data di rilascio (art. 41 D.P.R. 445/2000)."
UNLIMITED = "Attesta un fatto non soggetto a modificazioni: validità illimitata (art. 41 D.P.R. 445/2000)."
_FOOTER = (
    "Il presente certificato non può essere prodotto agli organi della pubblica amministrazione o ai privati "
    "gestori di pubblici servizi (art. 40 D.P.R. 445/2000). {validity} Documento informatico sigillato "
    "elettronicamente ai sensi dell'art. 20 D.Lgs. 82/2005 (CAD); la copia cartacea è verificabile con il codice e "
    "il QR riportati."
)
FOOTER = _FOOTER.format(validity=SIX_MONTHS)
REGISTRY_OFFICE = "Servizi demografici - Ufficio anagrafe"
CIVIL_OFFICE = "Servizi demografici - Ufficio dello stato civile"


def _mm(points: float) -> Mm:
    return Mm(round(points / fastpdf.MM, 2))


@cache
def layout_docx(title: str, office: str = REGISTRY_OFFICE, validity: str = SIX_MONTHS, footer: str = "") -> bytes:
    """The layout of one certificate type. The defaults are the population-register certificates'
    (their bytes, hence their cached bases, do not change); the civil-status ones name their office
    and, for a fact that cannot change (a death), an unlimited validity. `footer` replaces the
    certificates' legal footer (the citizen area's receipts and notices use the same layout)."""
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10)
    style.paragraph_format.space_after = Pt(0)
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = _mm(fastpdf.MARGIN_TOP)
    section.bottom_margin = _mm(fastpdf.MARGIN_BOTTOM)
    section.left_margin = section.right_margin = _mm(fastpdf.MARGIN_SIDE)
    section.header_distance = section.footer_distance = Mm(5)
    table = doc.add_table(rows=4, cols=1)
    heights = (fastpdf.HEADER_HEIGHT, fastpdf.TITLE_HEIGHT, fastpdf.BODY_HEIGHT, fastpdf.FOOTER_HEIGHT)
    for row, height in zip(table.rows, heights, strict=True):
        row.height = _mm(height)
        row.height_rule = WD_ROW_HEIGHT_RULE.EXACTLY
    header = table.rows[0].cells[0]
    header.paragraphs[0].add_run("{{ stemma }}")
    header.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    name = header.add_paragraph()
    name.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = name.add_run("{{ ente_nome }}")
    run.bold, run.font.size = True, Pt(14)
    office_par = header.add_paragraph(office)
    office_par.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title_par = table.rows[1].cells[0].paragraphs[0]
    title_par.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title_par.add_run(title.upper())
    run.bold, run.font.size = True, Pt(15)
    footer_par = table.rows[3].cells[0].paragraphs[0]
    footer_par.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    run = footer_par.add_run(footer or _FOOTER.format(validity=validity))
    run.font.size = Pt(8)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@cache  # layout_docx is cached too: in a process the bytes of a layout never change
def layout_sha256(*args: str) -> str:
    """The layout's content hash: over the names and contents of the DOCX parts, not the zip's
    entry timestamps (which change with the second the file was built, in each process)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(layout_docx(*args))) as docx:
        for name in sorted(docx.namelist()):
            h.update(name.encode() + b"\0" + hashlib.sha256(docx.read(name)).digest())
    return h.hexdigest()


def main(folder: str) -> None:
    from .catalogue import CATALOGUE

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for kind in CATALOGUE.values():
        (target / f"{kind.code}.docx").write_bytes(layout_docx(*kind.layout_args))


if __name__ == "__main__":  # pragma: no cover - developer tool
    main(sys.argv[1])
