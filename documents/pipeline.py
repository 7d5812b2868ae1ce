"""Template → filled DOCX (with the seal block) → PDF/A-2b → PAdES signature."""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import qrcode
from pyhanko.sign import signers

from common import clock

from . import conf, render, signing, templates


def new_verification_code() -> str:
    # 128 bits from the OS CSPRNG: unguessable, URL-safe, printed under the QR code.
    return secrets.token_urlsafe(16)


def verification_url(code: str) -> str:
    return f"{conf.public_base_url()}/verifica/{code}"


def qr_png(text: str) -> bytes:
    img = qrcode.make(text, box_size=6, border=2)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Produced:
    pdf: bytes
    verification_code: str
    level: signing.Level


def render_pdf(template: bytes, data: Mapping[str, Any], *, code: str, signer_name: str, signer_role: str,
               coat_of_arms: bytes | None = None) -> bytes:
    """`coat_of_arms` (PNG/JPEG) fills the `{{ stemma }}` placeholder; without it the placeholder is empty."""
    url = verification_url(code)
    context = {
        **data,
        "codice_verifica": code,
        "url_verifica": url,
        "firmatario": signer_name,
        "ruolo_firmatario": signer_role,
        "data_emissione": clock.now().strftime("%d/%m/%Y"),
        "stemma": "",
    }
    images = {"sigillo_qr": (qr_png(url), 28)}
    if coat_of_arms:
        images["stemma"] = (coat_of_arms, 18)
    docx = templates.render_docx(template, context=context, images=images)
    return render.docx_to_pdfa(docx)


def produce(template: bytes, data: Mapping[str, Any], *, signer: signers.Signer, signer_name: str, signer_role: str,
            level: signing.Level = signing.Level.B_B, tsa_url: str | None = None, validation_context=None,
            code: str | None = None, coat_of_arms: bytes | None = None) -> Produced:
    code = code or new_verification_code()
    pdf = render_pdf(template, data, code=code, signer_name=signer_name, signer_role=signer_role,
                     coat_of_arms=coat_of_arms)
    signed = signing.sign_pdf(pdf, signer=signer, level=level, tsa_url=tsa_url, validation_context=validation_context)
    return Produced(pdf=signed, verification_code=code, level=level)
