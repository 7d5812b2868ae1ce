"""Reading a produced PDF in tests as a person or a phone would: its text (pdftotext), its XMP metadata
(pdfinfo), its fonts (pdffonts), poppler's signature report (pdfsig) and the QR codes printed on its first page
(pdftoppm at 200 dpi, then zbarimg)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _file(pdf: bytes, folder: Path, name: str) -> Path:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    return path


def pdf_text(pdf: bytes, folder: Path, *, name: str = "doc", layout: bool = True) -> str:
    path = _file(pdf, folder, name)
    return subprocess.run(["pdftotext", "-layout" if layout else "-raw", str(path), "-"], capture_output=True,
                          check=True).stdout.decode()


def pdf_metadata(pdf: bytes, folder: Path, *, name: str = "doc") -> str:
    path = _file(pdf, folder, name)
    return subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, check=True).stdout.decode()


def pdf_qr_codes(pdf: bytes, folder: Path, *, name: str = "doc") -> list[str]:
    """The QR codes zbarimg reads on the first page (an empty list when none)."""
    path = _file(pdf, folder, name)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", "-f", "1", "-l", "1", str(path),
                    str(folder / name)], check=True)
    done = subprocess.run(["zbarimg", "-q", "--raw", str(folder / f"{name}.png")], capture_output=True, text=True)
    return done.stdout.split()


def pdf_fonts(pdf: bytes, folder: Path, *, name: str = "doc") -> list[str]:
    """pdffonts' rows, one per font (the two heading lines dropped)."""
    path = _file(pdf, folder, name)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, check=True).stdout.decode().splitlines()[2:]


def pdf_signatures(pdf: bytes, folder: Path, *, name: str = "doc") -> str:
    """pdfsig's report ("Signature is Valid." per valid signature; it exits non-zero when there is none)."""
    path = _file(pdf, folder, name)
    return subprocess.run(["pdfsig", str(path)], capture_output=True).stdout.decode()
