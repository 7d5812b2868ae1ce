"""Small hostile PDFs for the upload checks."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter


def _raw_pdf(catalog_extra: str) -> bytes:
    objs = [
        f"<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        "<< /S /JavaScript /JS (app.alert\\('x'\\)) >>",
        "<< /Type /EmbeddedFile /Length 5 >>\nstream\nhello\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_with_javascript() -> bytes:
    return _raw_pdf("/OpenAction 4 0 R")


def pdf_with_embedded_file() -> bytes:
    return _raw_pdf("/Names << /EmbeddedFiles << /Names [(a.txt) << /Type /Filespec /F (a.txt) /EF << /F 5 0 R >> >>] >> >>")


def encrypted_pdf() -> bytes:
    w = PdfFileWriter()
    page = generic.DictionaryObject({generic.NameObject("/Type"): generic.NameObject("/Page"),
                                     generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(0)] * 2 + [generic.NumberObject(200)] * 2)})
    w.insert_page(page)
    w.encrypt("owner", "user")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


PNG_1PX = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
           b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
