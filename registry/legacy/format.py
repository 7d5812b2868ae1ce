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
    # Civil-status acts and their annotations (registry.civil_status): imported as closed acts.
    "acts": ("atti.csv", ("id", "tipo", "anno", "parte", "serie", "numero", "ufficio", "ufficiale", "data",
                          "id_persone", "dati", "testo")),
    "annotations": ("annotazioni.csv", ("id", "id_atto", "tipo", "data", "autorita", "riferimento_atto", "testo")),
}

# Import order: what a row refers to is committed before it.
ORDER = ("streets", "house_numbers", "people", "households", "members", "residences", "acts", "annotations")
NOT_YET_IMPORTED: tuple[str, ...] = ()
OPTIONAL = ("acts", "annotations")  # an export without civil-status files is still an export

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

# Legacy act types of atti.csv -> the register's act kinds.
ACT_KINDS = {"NASCITA": "birth", "MATRIMONIO": "marriage", "MORTE": "death", "CITTADINANZA": "citizenship",
             "UNIONE_CIVILE": "civil_union"}
# Legacy annotation types of annotazioni.csv -> the register's annotation kinds.
ANNOTATION_KINDS = {"SEPARAZIONE": "separation", "DIVORZIO": "divorce", "CESSAZIONE_EFFETTI_CIVILI": "divorce",
                    "ANNULLAMENTO": "annulment", "RETTIFICA": "rectification", "RETTIFICAZIONE": "rectification",
                    "RICONOSCIMENTO": "recognition", "CAMBIO_NOME": "name_change", "CAMBIO_COGNOME": "name_change",
                    "CITTADINANZA": "citizenship", "SCIOGLIMENTO_UNIONE": "union_dissolution",
                    "CONVENZIONI_PATRIMONIALI": "property_regime", "MORTE": "death", "ALTRO": "other"}
# Keys of the legacy `dati` JSON -> the act data keys (registry.civil_status.schema).
ACT_DATA_KEYS = {"ora": "birth_time", "ora_nascita": "birth_time", "luogo": "place", "ora_morte": "death_time",
                 "rito": "rite", "regime_patrimoniale": "property_regime", "testimoni": "witnesses",
                 "padre": "father", "madre": "mother", "dichiarante": "declarant"}
# The parties an act names, in the order of `id_persone`.
ACT_ROLES = {"birth": ("subject",), "marriage": ("spouse", "spouse"), "death": ("deceased",),
             "citizenship": ("subject",), "civil_union": ("partner", "partner")}
