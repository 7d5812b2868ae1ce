"""The streaming ODS writer produces a valid OpenDocument spreadsheet with typed cells."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

from odf.opendocument import load
from odf.table import TableCell, TableRow

from documents.exports import export_rows

COLUMNS = [("name", "Nome & cognome"), ("born", "Nato il"), ("age", "Età"), ("note", "Nota")]
ROWS = [
    {"name": 'Rossi <Mario> & "figli"', "born": dt.date(1980, 1, 1), "age": 46, "note": None},
    {"name": "D'Amico Anna", "born": dt.datetime(1990, 5, 2, 10, 30), "age": 36.5, "note": True},
]


def test_the_ods_is_valid_typed_and_escaped():
    body, content_type, ext = export_rows("ods", COLUMNS, ROWS, title="Pratiche <prova>")
    assert ext == "ods" and content_type == "application/vnd.oasis.opendocument.spreadsheet"
    archive = zipfile.ZipFile(io.BytesIO(body))
    first = archive.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    document = load(io.BytesIO(body))  # odfpy parses it
    rows = document.spreadsheet.getElementsByType(TableRow)
    cells = [[str(c) for c in r.getElementsByType(TableCell)] for r in rows]
    assert cells[0] == ["Nome & cognome", "Nato il", "Età", "Nota"]
    assert cells[1][0] == 'Rossi <Mario> & "figli"'
    typed = rows[1].getElementsByType(TableCell)
    assert typed[1].getAttribute("valuetype") == "date" and typed[1].getAttribute("datevalue") == "1980-01-01"
    assert typed[2].getAttribute("valuetype") == "float" and typed[2].getAttribute("value") == "46"
    assert len(rows) == 3
