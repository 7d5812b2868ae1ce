"""Build the DOCX deed templates shipped in processes/<id>/deeds/ (run once after editing the text).

    .venv/bin/python scripts/build_deed_templates.py

The DOCX files are committed: a municipality edits its own copy in Word or LibreOffice and
uploads it (tenant templates); this script only keeps the shipped wording reviewable as text.
Placeholders are the deed's field list (`deeds/<name>.fields.yaml`) and the seal block names.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.shared import Pt

ROOT = Path(__file__).resolve().parent.parent
FONT = "Liberation Serif"
# A fixed date in the ZIP entries: rebuilding an unchanged text gives the same bytes, so the
# procedure's content hash (and its published version) does not change for nothing.
ZIP_DATE = (2026, 1, 1, 0, 0, 0)


def _document() -> Document:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(11)
    props = doc.core_properties
    props.author = props.last_modified_by = "Procedo"
    props.revision = 1
    return doc


def _seal(doc: Document) -> None:
    doc.add_paragraph("")
    doc.add_paragraph("Documento firmato digitalmente da {{ firmatario }} ({{ ruolo_firmatario }}) il {{ data_emissione }}.")
    doc.add_paragraph("Codice di verifica: {{ codice_verifica }} - verificabile su {{ url_verifica }}")
    doc.add_paragraph("{{ sigillo_qr }}")


def _stable_bytes(doc: Document) -> bytes:
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # python-docx stamps the current time
                data = _strip_dates(data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=ZIP_DATE), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _strip_dates(core: bytes) -> bytes:
    import re

    return re.sub(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>", b"", core)


def comunicazione_avvio() -> bytes:
    """Residence change: notice of start of proceedings (art. 7-8 L. 241/1990; DOMAIN §1)."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio Anagrafe")
    doc.add_paragraph("")
    doc.add_paragraph("Gentile {{ richiedente.nome }} {{ richiedente.cognome }} (C.F. {{ richiedente.codice_fiscale }})")
    doc.add_paragraph("Oggetto: comunicazione di avvio del procedimento - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph("Rif.: dichiarazione ricevuta il {{ pratica.data_ricezione }}, protocollo {{ pratica.protocollo }}")
    doc.add_paragraph(
        "Ai sensi degli articoli 7 e 8 della legge 7 agosto 1990, n. 241, si comunica che la dichiarazione "
        "di residenza resa il {{ pratica.data_dichiarazione }} per l'indirizzo {{ indirizzo.via }} "
        "{{ indirizzo.civico }}, {{ indirizzo.comune }}, è stata registrata e che il procedimento si concluderà "
        "entro 45 giorni; trascorso tale termine senza comunicazioni la dichiarazione si intende confermata "
        "(art. 18 D.P.R. 223/1989)."
    )
    doc.add_paragraph("{% if provenienza_estero %}La dichiarazione riguarda un trasferimento dall'estero.{% endif %}")
    doc.add_paragraph("Componenti della famiglia che si trasferiscono:")
    doc.add_paragraph("{% for c in componenti %}")
    doc.add_paragraph("- {{ c.cognome }} {{ c.nome }} ({{ c.codice_fiscale }})")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph("Responsabile del procedimento: {{ responsabile }}.")
    _seal(doc)
    return _stable_bytes(doc)


def _residence_letter(doc: Document, subject: str) -> None:
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio Anagrafe")
    doc.add_paragraph("")
    doc.add_paragraph("Gentile {{ richiedente.nome }} {{ richiedente.cognome }} (C.F. {{ richiedente.codice_fiscale }})")
    doc.add_paragraph(subject).runs[0].bold = True
    doc.add_paragraph("Rif.: dichiarazione di residenza resa il {{ pratica.data_dichiarazione }}, ricevuta il "
                      "{{ pratica.data_ricezione }}, protocollo {{ pratica.protocollo }}; indirizzo {{ indirizzo.via }} "
                      "{{ indirizzo.civico }}, {{ indirizzo.comune }}.")


def preavviso_rigetto() -> bytes:
    """Residence change: notice of the grounds for refusal (art. 10-bis L. 241/1990; DOMAIN §1.5)."""
    doc = _document()
    _residence_letter(doc, "Oggetto: comunicazione dei motivi ostativi all'accoglimento - pratica n. {{ pratica.numero }}")
    doc.add_paragraph(
        "Ai sensi dell'articolo 10-bis della legge 7 agosto 1990, n. 241, si comunicano i motivi che ostano "
        "all'accoglimento della dichiarazione di residenza sopra indicata:"
    )
    doc.add_paragraph("{{ motivi }}")
    doc.add_paragraph(
        "Entro 10 giorni dal ricevimento della presente comunicazione può presentare per iscritto le sue "
        "osservazioni, eventualmente corredate da documenti. In mancanza di osservazioni, o se non saranno "
        "accolte, sarà ripristinata la posizione anagrafica precedente con effetto dalla data della "
        "dichiarazione e saranno effettuate le segnalazioni previste (art. 5 D.L. 5/2012; artt. 75-76 D.P.R. "
        "445/2000)."
    )
    doc.add_paragraph("Responsabile del procedimento: {{ responsabile }}.")
    _seal(doc)
    return _stable_bytes(doc)


def comunicazione_esito() -> bytes:
    """Residence change: the outcome of the proceedings (art. 5 DL 5/2012; art. 20 L. 241/1990)."""
    doc = _document()
    _residence_letter(doc, "Oggetto: esito del procedimento di cambio di residenza - pratica n. {{ pratica.numero }}")
    doc.add_paragraph("{{ esito }}")
    doc.add_paragraph("{% if motivazione %}Motivazione: {{ motivazione }}{% endif %}")
    doc.add_paragraph("Persone interessate:")
    doc.add_paragraph("{% for c in componenti %}")
    doc.add_paragraph("- {{ c.cognome }} {{ c.nome }} ({{ c.codice_fiscale }})")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph(
        "Contro il presente provvedimento è ammesso ricorso al Prefetto entro 30 giorni (art. 36 D.P.R. "
        "223/1989) o al Tribunale Amministrativo Regionale entro 60 giorni dalla notifica."
    )
    doc.add_paragraph("Responsabile del procedimento: {{ responsabile }}.")
    _seal(doc)
    return _stable_bytes(doc)


def autorizzazione_cremazione() -> bytes:
    """Cremation authorisation (L. 130/2001 art. 3; DPR 285/1990 artt. 8, 79; DPR 396/2000)."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato Civile")
    doc.add_paragraph("")
    doc.add_paragraph("AUTORIZZAZIONE ALLA CREMAZIONE - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph("L'Ufficiale dello Stato Civile")
    doc.add_paragraph(
        "vista la richiesta di {{ richiedente.nome }} {{ richiedente.cognome }} (C.F. {{ richiedente.codice_fiscale }})"
        "{% if impresa %}, presentata per il tramite dell'impresa di onoranze funebri {{ impresa }}{% endif %};"
    )
    doc.add_paragraph(
        "visto l'atto di morte n. {{ atto_morte.numero }}, parte {{ atto_morte.parte }}{% if atto_morte.serie %}, "
        "serie {{ atto_morte.serie }}{% endif %}, anno {{ atto_morte.anno }}, dei registri di stato civile del comune di "
        "{{ atto_morte.comune }};"
    )
    doc.add_paragraph("accertato che la volontà di cremazione risulta da: {{ volonta }};")
    doc.add_paragraph(
        "visto il certificato del medico necroscopo dal quale risulta escluso il sospetto di morte dovuta a reato "
        "(art. 3, comma 1, lettera a, legge 30 marzo 2001, n. 130){% if nulla_osta %} e il nulla osta dell'autorità "
        "giudiziaria: {{ nulla_osta }}{% endif %};"
    )
    doc.add_paragraph("{% if decesso.estero %}visti i documenti esteri relativi al decesso e al trasporto della salma;{% endif %}")
    doc.add_paragraph("visti gli articoli 8, 74 e 79 del D.P.R. 10 settembre 1990, n. 285;")
    doc.add_paragraph("AUTORIZZA").runs[0].bold = True
    doc.add_paragraph(
        "la cremazione della salma di {{ defunto.nome }} {{ defunto.cognome }} (C.F. {{ defunto.codice_fiscale }}), "
        "nato/a il {{ defunto.data_nascita }}, deceduto/a il {{ decesso.data_ora }} a {{ decesso.comune }} "
        "({{ decesso.luogo }}), presso il crematorio {{ crematorio.nome }} di {{ crematorio.comune }}."
    )
    doc.add_paragraph(
        "La cremazione non può essere eseguita prima del {{ ora_minima }}, al termine del periodo di osservazione "
        "di 24 ore dal decesso (art. 8 D.P.R. 285/1990).{% if osservazione_in_corso %} Alla data del rilascio il "
        "periodo di osservazione non è ancora trascorso.{% endif %}"
    )
    doc.add_paragraph("Destinazione delle ceneri: {{ ceneri }}.")
    doc.add_paragraph("Copia della presente è trasmessa al crematorio e al richiedente.")
    _seal(doc)
    return _stable_bytes(doc)


def atto_pubblicazione() -> bytes:
    """Marriage banns: deed of publication (art. 55 D.P.R. 396/2000), posted on the notice board.
    No fiscal codes: the public notice carries only what the banns law requires."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato civile")
    doc.add_paragraph("")
    doc.add_paragraph("ATTO DI PUBBLICAZIONE DI MATRIMONIO - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph(
        "L'ufficiale dello stato civile, vista la richiesta presentata il {{ pratica.data_richiesta }} "
        "(art. 96 c.c.; artt. 50-51 D.P.R. 396/2000) e accertata l'insussistenza di impedimenti, rende noto che:"
    )
    doc.add_paragraph("{% for s in sposi %}")
    doc.add_paragraph("- {{ s.cognome }} {{ s.nome }}, nato/a a {{ s.luogo_nascita }} il {{ s.data_nascita }}, "
                      "residente in {{ s.residenza }}")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph(
        "intendono contrarre matrimonio con rito {{ rito }} nel Comune di {{ comune_celebrazione }}."
    )
    doc.add_paragraph(
        "Il presente atto resta affisso all'albo pretorio online per {{ giorni_pubblicazione }} giorni consecutivi "
        "(art. 55 D.P.R. 396/2000; art. 32 L. 69/2009).{% if decreto_riduzione %} Termine ridotto con "
        "{{ decreto_riduzione }} (art. 100 c.c.).{% endif %}"
    )
    doc.add_paragraph(
        "Chiunque vi abbia titolo può fare opposizione al matrimonio per le cause previste dagli articoli 102 "
        "e seguenti del codice civile."
    )
    _seal(doc)
    return _stable_bytes(doc)


def certificato_pubblicazione() -> bytes:
    """Marriage banns: certificate of completed publication (art. 58 D.P.R. 396/2000; art. 99 c.c.)."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato civile")
    doc.add_paragraph("")
    doc.add_paragraph("CERTIFICATO DI ESEGUITA PUBBLICAZIONE - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph("L'ufficiale dello stato civile certifica che la pubblicazione del matrimonio tra")
    doc.add_paragraph("{% for s in sposi %}")
    doc.add_paragraph("- {{ s.cognome }} {{ s.nome }}, nato/a a {{ s.luogo_nascita }} il {{ s.data_nascita }}")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph(
        "è stata affissa all'albo pretorio online con il numero di registro {{ albo.numero }} dal {{ albo.inizio }} "
        "al {{ albo.fine }}. {{ opposizioni }}"
    )
    doc.add_paragraph(
        "Il matrimonio può essere celebrato nel Comune di {{ comune_celebrazione }} dal {{ celebrabile_dal }} "
        "(art. 99, primo comma, c.c.) ed entro il {{ valido_fino_al }}: trascorso tale termine la pubblicazione si "
        "considera come non avvenuta (art. 99, secondo comma, c.c.)."
    )
    _seal(doc)
    return _stable_bytes(doc)


def richiesta_pubblicazione() -> bytes:
    """Marriage banns: request to the municipality where the other spouse resides to publish too
    (art. 50 D.P.R. 396/2000). It carries its own marca da bollo (DOMAIN.md §2: two stamps when a
    spouse lives elsewhere)."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato civile")
    doc.add_paragraph("")
    doc.add_paragraph("All'Ufficiale dello stato civile del Comune di {{ comune_destinatario }}")
    doc.add_paragraph("")
    doc.add_paragraph("RICHIESTA DI PUBBLICAZIONE DI MATRIMONIO - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph(
        "L'ufficiale dello stato civile, ricevuta il {{ pratica.data_richiesta }} la richiesta di pubblicazione "
        "del matrimonio tra"
    )
    doc.add_paragraph("{% for s in sposi %}")
    doc.add_paragraph("- {{ s.cognome }} {{ s.nome }}, nato/a a {{ s.luogo_nascita }} il {{ s.data_nascita }}, "
                      "residente in {{ s.residenza }}")
    doc.add_paragraph("{% endfor %}")
    doc.add_paragraph(
        "che intendono contrarre matrimonio nel Comune di {{ comune_celebrazione }}, chiede che la pubblicazione "
        "sia eseguita anche presso codesto Comune, di residenza di uno degli sposi, per {{ giorni_pubblicazione }} "
        "giorni consecutivi (artt. 50 e 55 D.P.R. 396/2000), e che ne sia data conferma a questo ufficio citando "
        "il protocollo della presente."
    )
    doc.add_paragraph("Si allega l'atto di pubblicazione.")
    _seal(doc)
    return _stable_bytes(doc)


def diniego_cremazione() -> bytes:
    """Refusal of the cremation authorisation (L. 130/2001 art. 3; L. 241/1990 artt. 3, 10-bis)."""
    doc = _document()
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato Civile")
    doc.add_paragraph("")
    doc.add_paragraph("DINIEGO DELL'AUTORIZZAZIONE ALLA CREMAZIONE - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph("L'Ufficiale dello Stato Civile")
    doc.add_paragraph(
        "vista la richiesta di {{ richiedente.nome }} {{ richiedente.cognome }} (C.F. {{ richiedente.codice_fiscale }}) "
        "di autorizzare la cremazione della salma di {{ defunto.nome }} {{ defunto.cognome }} "
        "(C.F. {{ defunto.codice_fiscale }});"
    )
    doc.add_paragraph(
        "{% if giudiziario %}considerato che la cremazione richiede il nulla osta dell'autorità giudiziaria "
        "(art. 3, comma 1, lettera a, legge 30 marzo 2001, n. 130) e che questo non è stato concesso;"
        "{% else %}vista la comunicazione dei motivi ostativi all'accoglimento della richiesta (art. 10-bis legge "
        "7 agosto 1990, n. 241) e considerate le eventuali osservazioni pervenute;{% endif %}"
    )
    doc.add_paragraph("per i seguenti motivi (art. 3 legge 241/1990): {{ motivi }}")
    doc.add_paragraph("NEGA").runs[0].bold = True
    doc.add_paragraph(
        "l'autorizzazione alla cremazione della salma di {{ defunto.nome }} {{ defunto.cognome }}. Resta possibile "
        "la sepoltura della salma."
    )
    doc.add_paragraph(
        "Contro il presente provvedimento è ammesso ricorso al Tribunale amministrativo regionale entro 60 giorni "
        "dalla notifica o ricorso straordinario al Presidente della Repubblica entro 120 giorni."
    )
    _seal(doc)
    return _stable_bytes(doc)


def _ashes_heading(doc: Document, title: str) -> None:
    doc.add_paragraph("{{ stemma }}")
    doc.add_paragraph("{{ ente.nome }}").runs[0].bold = True
    doc.add_paragraph("{{ ente.indirizzo }}")
    doc.add_paragraph("Ufficio di Stato Civile")
    doc.add_paragraph("")
    doc.add_paragraph(title + " - pratica n. {{ pratica.numero }}").runs[0].bold = True
    doc.add_paragraph("L'Ufficiale dello Stato Civile")
    doc.add_paragraph(
        "vista la richiesta di {{ richiedente.nome }} {{ richiedente.cognome }} (C.F. {{ richiedente.codice_fiscale }}) "
        "relativa alle ceneri di {{ defunto.nome }} {{ defunto.cognome }} (C.F. {{ defunto.codice_fiscale }}), "
        "deceduto/a il {{ decesso.data_ora }} a {{ decesso.comune }};"
    )
    doc.add_paragraph(
        "vista l'autorizzazione alla cremazione rilasciata con la stessa pratica{% if cremazione.protocollo %}, "
        "protocollo n. {{ cremazione.protocollo }}{% endif %}, presso il crematorio {{ cremazione.crematorio }};"
    )


def autorizzazione_sepoltura_ceneri() -> bytes:
    """Ashes kept in the cemetery: the urn placed in a niche or buried (DPR 285/1990 art. 80;
    L. 130/2001 art. 3 c. 1 lett. b-f and the municipal regulation). Also the destination when
    entrusting or scattering was not asked, not provided by the municipality, or not granted."""
    doc = _document()
    _ashes_heading(doc, "AUTORIZZAZIONE ALLA SEPOLTURA DELL'URNA CINERARIA")
    doc.add_paragraph(
        "{% if opzione_non_accolta %}considerato che la richiesta di {{ opzione_non_accolta }} non può essere accolta: "
        "{{ motivo }};{% endif %}"
    )
    doc.add_paragraph(
        "visti l'articolo 80 del D.P.R. 10 settembre 1990, n. 285, l'articolo 3 della legge 30 marzo 2001, n. 130, e il "
        "regolamento comunale di polizia mortuaria;"
    )
    doc.add_paragraph("AUTORIZZA").runs[0].bold = True
    doc.add_paragraph(
        "{% if sepoltura.modo == 'inumazione' %}l'inumazione (interramento){% else %}la tumulazione (collocazione in "
        "celletta, loculo o colombario){% endif %} dell'urna sigillata contenente le ceneri di {{ defunto.nome }} "
        "{{ defunto.cognome }} nel {{ sepoltura.cimitero }}."
    )
    doc.add_paragraph(
        "L'urna reca all'esterno nome, cognome, data di nascita e di morte del defunto (art. 80, comma 2, D.P.R. "
        "285/1990) ed è trasportata dal crematorio al cimitero a cura di chi ne ha titolo."
    )
    doc.add_paragraph("Copia della presente è consegnata al richiedente e al custode del cimitero.")
    _seal(doc)
    return _stable_bytes(doc)


def autorizzazione_affidamento() -> bytes:
    """Entrusting the urn to a family member (L. 130/2001 art. 3 c. 1 lett. e; DPR 285/1990 art. 80;
    regional law and municipal regulation)."""
    doc = _document()
    _ashes_heading(doc, "AUTORIZZAZIONE ALL'AFFIDAMENTO DELL'URNA CINERARIA")
    doc.add_paragraph("accertato che la volontà del defunto sull'affidamento risulta da: {{ volonta_ceneri }};")
    doc.add_paragraph(
        "visti l'articolo 3, comma 1, lettera e, della legge 30 marzo 2001, n. 130, l'articolo 80 del D.P.R. "
        "10 settembre 1990, n. 285, la legge regionale e il regolamento comunale che prevedono l'affidamento;"
    )
    doc.add_paragraph("AUTORIZZA").runs[0].bold = True
    doc.add_paragraph(
        "l'affidamento dell'urna sigillata contenente le ceneri di {{ defunto.nome }} {{ defunto.cognome }} a "
        "{{ affidatario.nome }} {{ affidatario.cognome }} (C.F. {{ affidatario.codice_fiscale }}), "
        "{{ affidatario.rapporto }} del defunto, che la conserverà presso {{ affidatario.luogo }}."
    )
    doc.add_paragraph(
        "L'affidatario custodisce l'urna sigillata nel luogo indicato, non la apre e non ne disperde le ceneri "
        "(art. 411 codice penale), comunica al Comune ogni cambio del luogo di conservazione e, se non intende o non "
        "può più conservarla, la consegna al cimitero per la sepoltura."
    )
    doc.add_paragraph("Copia della presente è consegnata all'affidatario e al richiedente.")
    _seal(doc)
    return _stable_bytes(doc)


def autorizzazione_dispersione() -> bytes:
    """Scattering of the ashes (L. 130/2001 art. 3 c. 1 lett. c, d; art. 411 c.p. as amended by art. 2
    L. 130/2001; regional law and municipal regulation)."""
    doc = _document()
    _ashes_heading(doc, "AUTORIZZAZIONE ALLA DISPERSIONE DELLE CENERI")
    doc.add_paragraph("accertato che la volontà del defunto sulla dispersione risulta da: {{ volonta_ceneri }};")
    doc.add_paragraph(
        "{% if luogo.consenso_proprietario %}acquisito il consenso del proprietario dell'area privata;{% endif %}"
    )
    doc.add_paragraph(
        "visti l'articolo 3, comma 1, lettere c e d, della legge 30 marzo 2001, n. 130, l'articolo 411 del codice "
        "penale come modificato dall'articolo 2 della stessa legge, la legge regionale e il regolamento comunale;"
    )
    doc.add_paragraph("AUTORIZZA").runs[0].bold = True
    doc.add_paragraph(
        "la dispersione delle ceneri di {{ defunto.nome }} {{ defunto.cognome }} in {{ luogo.tipo }}: "
        "{{ luogo.descrizione }}{% if esecutore %}, a cura di {{ esecutore }}{% endif %}."
    )
    doc.add_paragraph(
        "La dispersione è vietata nei centri abitati; in mare, nei laghi e nei fiumi è consentita nei tratti liberi "
        "da natanti e da manufatti; in aree private solo all'aperto e con il consenso dei proprietari, senza scopo di "
        "lucro (art. 3, comma 1, lettera c, legge 130/2001). La dispersione in luogo o con modalità diversi da quelli "
        "autorizzati è punita dall'articolo 411 del codice penale."
    )
    doc.add_paragraph("Copia della presente è consegnata al richiedente e a chi esegue la dispersione.")
    _seal(doc)
    return _stable_bytes(doc)


DEEDS = {
    ROOT / "processes" / "residence_change" / "deeds" / "comunicazione_avvio.docx": comunicazione_avvio,
    ROOT / "processes" / "residence_change" / "deeds" / "preavviso_rigetto.docx": preavviso_rigetto,
    ROOT / "processes" / "residence_change" / "deeds" / "comunicazione_esito.docx": comunicazione_esito,
    ROOT / "processes" / "cremation_authorisation" / "deeds" / "autorizzazione_cremazione.docx": autorizzazione_cremazione,
    ROOT / "processes" / "cremation_authorisation" / "deeds" / "diniego_cremazione.docx": diniego_cremazione,
    ROOT / "processes" / "cremation_authorisation" / "deeds" / "autorizzazione_sepoltura_ceneri.docx":
        autorizzazione_sepoltura_ceneri,
    ROOT / "processes" / "cremation_authorisation" / "deeds" / "autorizzazione_affidamento.docx": autorizzazione_affidamento,
    ROOT / "processes" / "cremation_authorisation" / "deeds" / "autorizzazione_dispersione.docx": autorizzazione_dispersione,
    ROOT / "processes" / "marriage_banns" / "deeds" / "atto_pubblicazione.docx": atto_pubblicazione,
    ROOT / "processes" / "marriage_banns" / "deeds" / "certificato_pubblicazione.docx": certificato_pubblicazione,
    ROOT / "processes" / "marriage_banns" / "deeds" / "richiesta_pubblicazione.docx": richiesta_pubblicazione,
}


def main() -> int:
    for path, build in DEEDS.items():
        data = build()
        if path.exists() and path.read_bytes() == data:
            print(f"unchanged {path.relative_to(ROOT)}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
