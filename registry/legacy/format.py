"""The legacy import format: one UTF-8 CSV file per entity in one folder (documented in
registry/README.md, "Formato di importazione"). Column names are Italian, as the municipalities'
exports are; dates are ISO (AAAA-MM-GG) or GG/MM/AAAA; empty cells mean "not known"."""

from __future__ import annotations

FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    # entity: (file name, columns)
    "streets": ("stradario.csv", ("codice_via", "specie", "denominazione", "codice_anncsu", "localita",
                                  "data_istituzione", "data_soppressione")),
    "house_numbers": ("civici.csv", ("codice_civico", "codice_via", "numero", "esponente", "codice_anncsu",
                                     "data_istituzione", "data_soppressione")),
    "people": ("persone.csv", ("id", "cognome", "nome", "sesso", "data_nascita", "comune_nascita_istat",
                               "stato_nascita_istat", "luogo_nascita", "codice_fiscale", "id_anpr", "cittadinanze",
                               "stato_civile", "data_morte", "documento_tipo", "documento_numero",
                               "documento_rilasciato_da", "documento_data_rilascio", "documento_scadenza")),
    "households": ("famiglie.csv", ("id", "tipo", "id_anpr", "denominazione", "specie_convivenza",
                                    "data_costituzione", "data_cessazione")),
    "members": ("componenti.csv", ("id_famiglia", "id_persona", "relazione", "dal", "al")),
    "residences": ("residenze.csv", ("id", "id_persona", "codice_civico", "id_famiglia", "scala_interno", "dal", "al",
                                     "evento_apertura", "evento_chiusura", "rif_anpr")),
    # Civil-status acts and their annotations: the format is fixed now; their import comes with the
    # civil-status registers (issue 13, second part). The importer counts them as "not yet imported".
    "acts": ("atti.csv", ("id", "tipo", "anno", "parte", "serie", "numero", "ufficio", "ufficiale", "data",
                          "id_persone", "dati", "testo")),
    "annotations": ("annotazioni.csv", ("id", "id_atto", "tipo", "data", "autorita", "riferimento_atto", "testo")),
}

# Import order: what a row refers to is committed before it.
ORDER = ("streets", "house_numbers", "people", "households", "members", "residences")
NOT_YET_IMPORTED = ("acts", "annotations")

ENTITY_LABELS = {
    "streets": "Stradario", "house_numbers": "Civici", "people": "Persone", "households": "Famiglie e convivenze",
    "members": "Componenti", "residences": "Residenze", "acts": "Atti di stato civile",
    "annotations": "Annotazioni",
}

DOCUMENT_KINDS = {"CIE": "cie", "CI": "paper_id", "PASSAPORTO": "passport", "PATENTE": "driving_licence",
                  "PERMESSO": "residence_permit"}
# Legacy event codes of residenze.csv -> the register's residence events.
EVENTS = {"NASCITA": "birth", "IMMIGRAZIONE": "registration", "ESTERO": "from_abroad", "CAMBIO_ABITAZIONE": "internal_move",
          "EMIGRAZIONE": "departure", "AIRE": "aire", "MORTE": "death", "IRREPERIBILITA": "untraceable",
          "ALTRO": "other"}
