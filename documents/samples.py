"""Sample templates and data for tests and benchmarks.

`certificato_docx()` is a two-page certificate used by the benchmark, built from code; it ends
with the seal block (signer, role, date, verification code and QR) drawn as content before
signing. The residence-change notice of start of proceedings is the procedure's own deed
(processes/residence_change/deeds/): `comunicazione_avvio_docx()`, `comunicazione_avvio_fields()`
and `COMUNICAZIONE_AVVIO_SCHEMA` read it from there, `comunicazione_avvio_data()` is sample data.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from docx import Document
from docx.enum.text import WD_BREAK
from docx.shared import Pt

FONT = "Liberation Serif"
RESIDENCE_DEEDS = Path(__file__).resolve().parent.parent / "processes" / "residence_change" / "deeds"

CERTIFICATO_SCHEMA = {
    "ente": {"nome": None, "indirizzo": None},
    "persona": {"nome": None, "cognome": None, "codice_fiscale": None, "data_nascita": None, "luogo_nascita": None},
    "componenti": [{"nome": None, "cognome": None, "relazione": None}],
    "numero": None,
}


def _document() -> Document:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(11)
    return doc


def _seal(doc: Document) -> None:
    doc.add_paragraph("")
    doc.add_paragraph("Documento firmato digitalmente da {{ firmatario }} ({{ ruolo_firmatario }}) il {{ data_emissione }}.")
    doc.add_paragraph("Codice di verifica: {{ codice_verifica }} - verificabile su {{ url_verifica }}")
    doc.add_paragraph("{{ sigillo_qr }}")


def _bytes(doc: Document) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def comunicazione_avvio_docx() -> bytes:
    """The shipped DOCX of the residence-change notice of start of proceedings."""
    return (RESIDENCE_DEEDS / "comunicazione_avvio.docx").read_bytes()


@lru_cache(maxsize=1)
def comunicazione_avvio_fields() -> dict[str, Any]:
    """The data that notice may use (its field list in the procedure folder)."""
    return yaml.safe_load((RESIDENCE_DEEDS / "comunicazione_avvio.fields.yaml").read_text(encoding="utf-8"))


def __getattr__(name: str) -> Any:
    if name == "COMUNICAZIONE_AVVIO_SCHEMA":
        return comunicazione_avvio_fields()
    raise AttributeError(name)


def certificato_docx() -> bytes:
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("CERTIFICATO DI STATO DI FAMIGLIA E DI RESIDENZA n. {{ numero }}").runs[0].bold = True
    doc.add_paragraph(
        "L'Ufficiale d'Anagrafe certifica che {{ persona.cognome }} {{ persona.nome }}, nato/a a "
        "{{ persona.luogo_nascita }} il {{ persona.data_nascita }}, codice fiscale {{ persona.codice_fiscale }}, "
        "risulta iscritto/a nell'anagrafe della popolazione residente e che la sua famiglia è così composta:"
    )
    doc.add_paragraph("{% for c in componenti %}")
    doc.add_paragraph("{{ loop.index }}. {{ c.cognome }} {{ c.nome }} - {{ c.relazione }}")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph(
        "Si rilascia in carta libera per gli usi consentiti dalla legge. Il presente certificato non può essere "
        "prodotto agli organi della pubblica amministrazione o ai privati gestori di pubblici servizi "
        "(art. 40 D.P.R. 445/2000)."
    )
    doc.add_paragraph("").add_run().add_break(WD_BREAK.PAGE)
    doc.add_paragraph("Annotazioni").runs[0].bold = True
    for i in range(12):
        doc.add_paragraph(
            f"{i + 1}. Il certificato è rilasciato sulla base delle risultanze anagrafiche alla data di emissione; "
            "eventuali variazioni successive non sono riportate."
        )
    _seal(doc)
    return _bytes(doc)


def comunicazione_avvio_data() -> dict:
    return {
        "ente": {"nome": "Comune di Demo", "indirizzo": "Piazza del Municipio 1, 00100 Demo"},
        "pratica": {"numero": "RES-2026-000123", "data_dichiarazione": "20/11/2026"},
        "richiedente": {"nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA80A01H501U"},
        "indirizzo": {"via": "Via Roma", "civico": "10", "comune": "Demo"},
        "componenti": [
            {"nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA80A01H501U"},
            {"nome": "Anna", "cognome": "Bianchi", "codice_fiscale": "BNCNNA82B41H501X"},
        ],
        "responsabile": "dott.ssa Laura Verdi",
        "provenienza_estero": False,
    }


def certificato_data(n: int = 1) -> dict:
    return {
        "ente": {"nome": "Comune di Demo", "indirizzo": "Piazza del Municipio 1, 00100 Demo"},
        "persona": {"nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA80A01H501U",
                    "data_nascita": "01/01/1980", "luogo_nascita": "Roma"},
        "componenti": [
            {"nome": "Mario", "cognome": "Rossi", "relazione": "intestatario"},
            {"nome": "Anna", "cognome": "Bianchi", "relazione": "coniuge"},
            {"nome": "Luca", "cognome": "Rossi", "relazione": "figlio"},
        ],
        "numero": f"CERT-{n:06d}",
    }
