"""Developer tool: rebuild the CSV code tables of this folder from ANPR's XLSX tables.

Usage: python registry/data/convert_tables.py <folder with the tab_*.xlsx files>
Never run by the product (see README.md next to this file).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
SIMPLE = {
    "tab_Stato_validazione_del_codice_fiscale.xlsx": "fiscal_code_validation.csv",
    "tab_Stato_civile.xlsx": "civil_status.csv",
    "tab_Relazione_di_parentela___Famiglia.xlsx": "relationship.csv",
    "tab_Specie_della_convivenza.xlsx": "cohabitation_species.csv",
    "tab_tabella_04___specie_toponimo.xlsx": "toponym_species.csv",
}


def _rows(path: Path) -> list[dict]:
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    header = [str(h or "") for h in values[0]]
    return [dict(zip(header, row, strict=False)) for row in values[1:] if any(v not in (None, "") for v in row)]


def _iso(value) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, dt.datetime):
        text = value.date().isoformat()
    elif "/" in str(value):
        day, month, year = str(value).split("/")
        text = f"{year}-{month}-{day}"
    else:
        text = str(value)
    return "" if text == "9999-12-31" else text


def main(source: Path) -> None:
    for xlsx, name in SIMPLE.items():
        records = sorted(((int(r["ID"]), " ".join(str(r["DESCRIZIONE"]).split()), _iso(r.get("DATAFINEVALIDITA")))
                          for r in _rows(source / xlsx)), key=lambda r: r[0])
        with open(HERE / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["code", "description", "valid_to"])
            writer.writerows(records)
    states = sorted(_rows(source / "tab_Stati_Esteri.xlsx"), key=lambda r: (str(r["CODISTAT"]), str(r["ID"])))
    with open(HERE / "foreign_states.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["istat_code", "belfiore_code", "name", "iso_alpha3", "valid_to"])
        for r in states:
            writer.writerow([r["CODISTAT"] or "", r["CODAT"] or "", r["DENOMINAZIONEISTAT"] or r["DENOMINAZIONE"],
                             r["CODISO3166_1_ALPHA3"] or "", _iso(r["DATAFINEVALIDITA"])])
    exemptions = sorted(_rows(source / "tab_Esenzione_bollo.xlsx"), key=lambda r: int(r["ID"]))
    with open(HERE / "stamp_duty_exemption.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "description", "secretariat_fee_exempt", "valid_to"])
        for r in exemptions:
            writer.writerow([int(r["ID"]), " ".join(str(r["DESCRIZIONE"]).split()),
                             "1" if str(r.get("ESENZIONE DIRITTO DI SEGRETERIA") or "").upper() == "SI" else "",
                             _iso(r.get("DATAFINEVALIDITA"))])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
