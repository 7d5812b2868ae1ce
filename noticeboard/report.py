"""The publication report (referto di pubblicazione) template, built from code like the documents
samples (no binary committed). It certifies that the act stayed on the online notice board for the
whole period (art. 32 L. 69/2009; for banns art. 55 D.P.R. 396/2000)."""

from __future__ import annotations

import io

from docx import Document
from docx.shared import Pt

FIELDS = {
    "ente": {"nome": None, "indirizzo": None},
    "pubblicazione": {"numero": None, "oggetto": None, "categoria": None, "inizio": None, "fine": None,
                      "giorni": None, "ufficio": None, "responsabile": None, "impronta": None},
}


def referto_docx() -> bytes:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Liberation Serif"
    style.font.size = Pt(11)
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("Albo pretorio online")
    doc.add_paragraph("")
    doc.add_paragraph("REFERTO DI PUBBLICAZIONE").runs[0].bold = True
    doc.add_paragraph("Registro delle pubblicazioni n. {{ pubblicazione.numero }}")
    doc.add_paragraph(
        "Si attesta che l'atto «{{ pubblicazione.oggetto }}» ({{ pubblicazione.categoria }}), trasmesso da "
        "{{ pubblicazione.ufficio }}, è stato pubblicato all'albo pretorio online di questo ente, ai sensi "
        "dell'art. 32 della legge 18 giugno 2009, n. 69, per {{ pubblicazione.giorni }} giorni consecutivi, "
        "dal {{ pubblicazione.inizio }} al {{ pubblicazione.fine }} compresi."
    )
    doc.add_paragraph("Impronta SHA-256 del documento pubblicato: {{ pubblicazione.impronta }}")
    doc.add_paragraph("Responsabile della pubblicazione: {{ pubblicazione.responsabile }}.")
    doc.add_paragraph("")
    doc.add_paragraph("Documento firmato digitalmente da {{ firmatario }} ({{ ruolo_firmatario }}) il {{ data_emissione }}.")
    doc.add_paragraph("Codice di verifica: {{ codice_verifica }} - verificabile su {{ url_verifica }}")
    doc.add_paragraph("{{ sigillo_qr }}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


WITHDRAWN_FIELDS = {
    "ente": {"nome": None, "indirizzo": None},
    "pubblicazione": {"numero": None, "oggetto": None, "categoria": None, "inizio": None, "fine": None,
                      "giorni": None, "ufficio": None, "responsabile": None, "impronta": None,
                      "periodo_effettivo": None, "annullata_il": None, "motivo": None},
}


def referto_withdrawn_docx() -> bytes:
    """The report of a publication withdrawn (annullata) before its end: what was actually on the
    board, until when, and why it was withdrawn."""
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Liberation Serif"
    style.font.size = Pt(11)
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("Albo pretorio online")
    doc.add_paragraph("")
    doc.add_paragraph("REFERTO DI PUBBLICAZIONE ANNULLATA").runs[0].bold = True
    doc.add_paragraph("Registro delle pubblicazioni n. {{ pubblicazione.numero }}")
    doc.add_paragraph(
        "Si attesta che l'atto «{{ pubblicazione.oggetto }}» ({{ pubblicazione.categoria }}), trasmesso da "
        "{{ pubblicazione.ufficio }} per la pubblicazione all'albo pretorio online di questo ente ai sensi "
        "dell'art. 32 della legge 18 giugno 2009, n. 69, dal {{ pubblicazione.inizio }} al "
        "{{ pubblicazione.fine }} ({{ pubblicazione.giorni }} giorni), è stato annullato il "
        "{{ pubblicazione.annullata_il }} con la seguente motivazione: {{ pubblicazione.motivo }}."
    )
    doc.add_paragraph("{{ pubblicazione.periodo_effettivo }}")
    doc.add_paragraph("Impronta SHA-256 del documento: {{ pubblicazione.impronta }}")
    doc.add_paragraph("Responsabile della pubblicazione: {{ pubblicazione.responsabile }}.")
    doc.add_paragraph("")
    doc.add_paragraph("Documento firmato digitalmente da {{ firmatario }} ({{ ruolo_firmatario }}) il {{ data_emissione }}.")
    doc.add_paragraph("Codice di verifica: {{ codice_verifica }} - verificabile su {{ url_verifica }}")
    doc.add_paragraph("{{ sigillo_qr }}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
