"""Convert once, fill many: the certificate pipeline without a LibreOffice conversion per certificate.

A certificate type's layout (a DOCX, registry.certificates.layout) is filled with the tenant's
constant data (name, coat of arms), converted once to PDF/A-2b by the documents pipeline and
prepared: the overlay fonts are added to the page's resources and the page's own content is
wrapped in q/Q. That prepared *base* is cached per tenant and template version
(`base_key`). Each certificate is then one incremental update of the base: a content stream with
its text (an embedded TrueType subset, so every font stays embedded as PDF/A wants) and a vector
QR code to /verifica/, then the PAdES seal (documents.signing) as the next incremental update.

The overlay draws only inside the layout's body box (`BODY`, in points from the bottom-left
corner), which the DOCX reserves with a fixed-height table row.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import qrcode
from django.utils.translation import gettext as _
from fontTools import subset
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

MM = 72 / 25.4
PAGE_WIDTH, PAGE_HEIGHT = 210 * MM, 297 * MM

# Geometry shared with layout.py: margins and the fixed heights of the layout's table rows.
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_SIDE = 15 * MM, 15 * MM, 20 * MM
HEADER_HEIGHT, TITLE_HEIGHT, BODY_HEIGHT, FOOTER_HEIGHT = 32 * MM, 16 * MM, 190 * MM, 25 * MM
BODY_TOP = PAGE_HEIGHT - MARGIN_TOP - HEADER_HEIGHT - TITLE_HEIGHT
BODY_BOTTOM = BODY_TOP - BODY_HEIGHT
BODY_LEFT, BODY_RIGHT = MARGIN_SIDE + 2 * MM, PAGE_WIDTH - MARGIN_SIDE - 2 * MM
SEAL_HEIGHT = 34 * MM  # the bottom of the body box: signer, verification code and QR
QR_SIZE = 28 * MM

logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # one line per table it drops otherwise

FONT_DIRS = (Path("/usr/share/fonts/truetype/liberation2"), Path("/usr/share/fonts/truetype/liberation"),
             Path("/usr/share/fonts/liberation"))
FONT_FILES = {"regular": "LiberationSerif-Regular.ttf", "bold": "LiberationSerif-Bold.ttf"}
FONT_RESOURCES = {"regular": "/FCertR", "bold": "/FCertB"}
FIRST_CHAR, LAST_CHAR = 32, 255
ENCODING = "cp1252"  # WinAnsiEncoding: every letter Italian names and addresses use


class OverlayError(Exception):
    """The text does not fit the body box (the caller turns it into a refusal)."""


@dataclass(frozen=True)
class Font:
    base_name: str
    program: bytes  # TrueType subset (codes 32-255 of WinAnsi)
    widths: tuple[int, ...]  # FIRST_CHAR..LAST_CHAR, thousandths of an em
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int
    flags: int

    def width(self, text: str, size: float) -> float:
        total = 0
        for byte in encode(text):
            total += self.widths[byte - FIRST_CHAR] if byte >= FIRST_CHAR else 0
        return total * size / 1000


def encode(text: str) -> bytes:
    """WinAnsi bytes of `text`; control characters dropped, anything else outside it becomes '?'."""
    cleaned = "".join(ch if ch >= " " else " " for ch in text)
    return cleaned.encode(ENCODING, errors="replace")


def _font_path(style: str) -> Path:
    for folder in FONT_DIRS:
        path = folder / FONT_FILES[style]
        if path.is_file():
            return path
    raise RuntimeError(f"font {FONT_FILES[style]} not found (install fonts-liberation2)")


@cache
def font(style: str) -> Font:
    """The style's TrueType font, subset once per process to the WinAnsi characters."""
    tt = TTFont(str(_font_path(style)))
    unicodes = set()
    for code in range(FIRST_CHAR, LAST_CHAR + 1):
        try:
            unicodes.add(ord(bytes([code]).decode(ENCODING)))
        except UnicodeDecodeError:
            continue
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.legacy_cmap = True
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    units = tt["head"].unitsPerEm
    cmap = tt.getBestCmap()
    hmtx = tt["hmtx"]
    widths = []
    for code in range(FIRST_CHAR, LAST_CHAR + 1):
        try:
            glyph = cmap.get(ord(bytes([code]).decode(ENCODING)))
        except UnicodeDecodeError:
            glyph = None
        widths.append(round(hmtx[glyph][0] * 1000 / units) if glyph else 0)
    head, os2 = tt["head"], tt["OS/2"]
    scale = 1000 / units
    ps_name = tt["name"].getDebugName(6) or "LiberationSerif"
    return Font(
        base_name=f"PRCERT+{ps_name}", program=out.getvalue(), widths=tuple(widths),
        bbox=(round(head.xMin * scale), round(head.yMin * scale), round(head.xMax * scale), round(head.yMax * scale)),
        ascent=round(tt["hhea"].ascent * scale), descent=round(tt["hhea"].descent * scale),
        cap_height=round(getattr(os2, "sCapHeight", 700 / scale) * scale),
        flags=32 | 2 | (1 << 18 if style == "bold" else 0),  # nonsymbolic, serif (and force bold)
    )


def _font_object(writer: IncrementalPdfFileWriter, f: Font) -> generic.IndirectObject:
    program = generic.StreamObject({pdf_name("/Length1"): generic.NumberObject(len(f.program))}, stream_data=f.program)
    program.compress()
    descriptor = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/FontDescriptor"),
        pdf_name("/FontName"): pdf_name("/" + f.base_name),
        pdf_name("/Flags"): generic.NumberObject(f.flags),
        pdf_name("/FontBBox"): generic.ArrayObject([generic.NumberObject(v) for v in f.bbox]),
        pdf_name("/ItalicAngle"): generic.NumberObject(0),
        pdf_name("/Ascent"): generic.NumberObject(f.ascent),
        pdf_name("/Descent"): generic.NumberObject(f.descent),
        pdf_name("/CapHeight"): generic.NumberObject(f.cap_height),
        pdf_name("/StemV"): generic.NumberObject(80),
        pdf_name("/FontFile2"): writer.add_object(program),
    })
    return writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/TrueType"),
        pdf_name("/BaseFont"): pdf_name("/" + f.base_name),
        pdf_name("/FirstChar"): generic.NumberObject(FIRST_CHAR),
        pdf_name("/LastChar"): generic.NumberObject(LAST_CHAR),
        pdf_name("/Widths"): generic.ArrayObject([generic.NumberObject(w) for w in f.widths]),
        pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        pdf_name("/FontDescriptor"): writer.add_object(descriptor),
    }))


def prepare_base(pdf: bytes) -> bytes:
    """The converted layout made ready for overlays: fonts in the page resources, page content in q/Q."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fonts = generic.DictionaryObject({pdf_name(FONT_RESOURCES[s]): _font_object(writer, font(s)) for s in FONT_RESOURCES})
    save = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
    writer.add_stream_to_page(0, save, prepend=True)
    restore = writer.add_object(generic.StreamObject(stream_data=b"\nQ\n"))
    writer.add_stream_to_page(0, restore, resources=generic.DictionaryObject({pdf_name("/Font"): fonts}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- the overlay -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    text: str
    bold: bool = False
    indent: float = 0.0  # points
    space_before: float = 0.0  # points


def _literal(text: str) -> bytes:
    raw = encode(text)
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def wrap(lines: Iterable[Line], *, size: float, width: float) -> list[Line]:
    """Break long lines at spaces so each fits `width` at font `size` (continuations keep the indent)."""
    out: list[Line] = []
    for line in lines:
        f = font("bold" if line.bold else "regular")
        available = width - line.indent
        words = line.text.split(" ")
        # widths add up character by character (no kerning): measure each word once, in integer
        # font units, not each candidate line again (that was quadratic in a paragraph's words)
        space = round(f.width(" ", 1000))
        current, current_width, first = "", 0, True
        for word in words:
            word_width = round(f.width(word, 1000))
            if current and (current_width + space + word_width) * size / 1000 > available:
                out.append(Line(current, line.bold, line.indent, line.space_before if first else 0.0))
                current, current_width, first = word, word_width, False
            elif current:
                current, current_width = f"{current} {word}", current_width + space + word_width
            else:
                current, current_width = word, word_width
        out.append(Line(current, line.bold, line.indent, line.space_before if first else 0.0))
    return out


def _qr_ops(url: str, x: float, y: float, size: float) -> bytes:
    # A fixed mask: choosing the "best" of eight costs ~25 ms and any mask decodes the same.
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=2)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    cell = size / len(matrix)
    ops = [b"q 1 1 1 rg %.2f %.2f %.2f %.2f re f 0 0 0 rg" % (x, y, size, size)]
    for r, row in enumerate(matrix):
        top = y + size - (r + 1) * cell
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                ops.append(b"%.3f %.3f %.3f %.3f re" % (x + start * cell, top, (c - start) * cell, cell))
            else:
                c += 1
    ops.append(b"f Q")
    return b"\n".join(ops)


def _text_ops(lines: list[Line], *, top: float, size: float, leading: float) -> bytes:
    ops = [b"BT 0 0 0 rg"]
    y = top
    for line in lines:
        y -= leading + line.space_before
        resource = FONT_RESOURCES["bold" if line.bold else "regular"]
        ops.append(b"%s %.1f Tf 1 0 0 1 %.2f %.2f Tm %s Tj" % (resource.encode(), size, BODY_LEFT + line.indent, y,
                                                             _literal(line.text)))
    ops.append(b"ET")
    return b"\n".join(ops)


def overlay_ops(body: list[Line], seal: list[str], qr_url: str) -> bytes:
    """The content stream of one certificate: its body text, then the seal block and QR at the bottom."""
    text_width = BODY_RIGHT - BODY_LEFT
    available = BODY_HEIGHT - SEAL_HEIGHT - 4 * MM
    for size in (11.0, 10.0, 9.0, 8.0):
        leading = size * 1.35
        wrapped = wrap(body, size=size, width=text_width)
        if sum(leading + ln.space_before for ln in wrapped) <= available:
            break
    else:
        raise OverlayError(_("I dati del certificato non entrano nel modello: rilasciarlo con un altro modello."))
    seal_lines = wrap([Line(s) for s in seal], size=8.5, width=text_width - QR_SIZE - 6 * MM)
    qr_x = BODY_RIGHT - QR_SIZE
    seal_top = BODY_BOTTOM + SEAL_HEIGHT
    return b"\n".join([
        _text_ops(wrapped, top=BODY_TOP - 2 * MM, size=size, leading=leading),
        _text_ops(seal_lines, top=seal_top - 2 * MM, size=8.5, leading=11),
        _qr_ops(qr_url, qr_x, BODY_BOTTOM + (SEAL_HEIGHT - QR_SIZE) / 2, QR_SIZE),
    ])


def fill_writer(base: bytes, ops: bytes) -> IncrementalPdfFileWriter:
    """The prepared base with the certificate's content stream pending, ready to be sealed in the
    same incremental update (no write and re-parse between filling and signing)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(base), strict=False)
    stream = generic.StreamObject(stream_data=b"q\n" + ops + b"\nQ\n")
    stream.compress()
    writer.add_stream_to_page(0, writer.add_object(stream))
    return writer


def fill(base: bytes, ops: bytes) -> bytes:
    """One incremental update of the prepared base with the certificate's content stream."""
    out = io.BytesIO()
    fill_writer(base, ops).write(out)
    return out.getvalue()


# --- the base cache (per process; the database keeps the converted bases for other processes) ------

_bases: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()
CACHE_SIZE = 64


def cached_base(key: str) -> bytes | None:
    with _lock:
        base = _bases.get(key)
        if base is not None:
            _bases.move_to_end(key)
        return base


def remember_base(key: str, base: bytes) -> None:
    with _lock:
        _bases[key] = base
        _bases.move_to_end(key)
        while len(_bases) > CACHE_SIZE:
            _bases.popitem(last=False)


def forget_bases() -> None:
    with _lock:
        _bases.clear()
