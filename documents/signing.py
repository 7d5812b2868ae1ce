"""PAdES baseline signatures with pyHanko: B-B always, B-T with an RFC 3161 TSA,
B-LT with revocation info embedded (ETSI EN 319 142-1).

Signers: a PKCS#12 file whose key stays loaded (pyHanko's SimpleSigner decodes
the key again on every signature, most of its cost), a PKCS#11 token (HSM or
smart card), and a remote signing service (the document digest goes out, a CMS
SignedData comes back). The signature is invisible: the seal block is drawn in
the template before conversion, because pyHanko's stamp writes wrong glyph
widths for 2048-unit fonts and breaks PDF/A.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from django.utils.translation import gettext as _
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from common import clock

from .errors import CertificateExpired, FileRejected, SigningFailed, TimestampUnavailable, WrongPin

logger = logging.getLogger(__name__)

FIELD_NAME = "Firma"


class Level(StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"


RESERVED_BYTES_BY_LEVEL = {"B-B": 12288, "B-T": 24576, "B-LT": 24576}


# CMS size budget per level: signer chain (~3 KB) + signature, plus a timestamp token
# with the TSA chain from B-T up. Revocation data of B-LT goes into the DSS, not here.
RESERVED_BYTES = {Level(k): v for k, v in RESERVED_BYTES_BY_LEVEL.items()}


class ConstantCmsMixin:
    """Encode everything in the CMS that does not change between signatures once per signer.

    asn1crypto re-encodes nested values each time one is assigned into a new structure (the
    certificate's issuer, the ESS signing-certificate attribute...), and that, not the private-key
    operation, was most of a signature's cost. An object loaded from DER and left untouched is
    written back as its bytes. Only the message digest and the signature change per document.
    A test checks the result is byte-identical to pyHanko's own encoding.
    """

    _constant: dict | None = None

    def _constants(self) -> dict:
        if self._constant is None:
            cert = self.signing_cert
            chain = [c for c in (self.cert_registry or ()) if self.embed_roots or c.self_signed == "no"]
            self._constant = {
                "sid": cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number}).dump(),
                "chain": list(dict.fromkeys([c.dump() for c in chain] + [cert.dump()])),
                "attrs": {},
            }
        return self._constant

    async def signed_attrs(self, data_digest, digest_algorithm, attr_settings=None, content_type="data",
                           use_pades=False, timestamper=None, dry_run=False, is_pdf_sig=True):  # type: ignore[no-untyped-def]
        cached = self._constants()["attrs"]
        key = (digest_algorithm, content_type, use_pades, is_pdf_sig, dry_run, timestamper is None,
               attr_settings is None)
        if key not in cached:
            # Learn which attributes the standard path produces; reuse them only if nothing but the
            # message digest depends on the document (PAdES: content type, message digest, signing
            # certificate v2; no signing time, which PAdES keeps in the PDF).
            sample = await super().signed_attrs(bytes(len(data_digest)), digest_algorithm,  # type: ignore[misc]
                                                attr_settings=attr_settings, content_type=content_type,
                                                use_pades=use_pades, timestamper=timestamper, dry_run=dry_run,
                                                is_pdf_sig=is_pdf_sig)
            types = sorted(a["type"].native for a in sample)
            cached[key] = [a.dump() for a in sample if a["type"].native != "message_digest"] \
                if types == ["content_type", "message_digest", "signing_certificate_v2"] else None
        constant_attrs = cached[key]
        if constant_attrs is None:
            return await super().signed_attrs(data_digest, digest_algorithm,  # type: ignore[misc]
                                              attr_settings=attr_settings, content_type=content_type,
                                              use_pades=use_pades, timestamper=timestamper, dry_run=dry_run,
                                              is_pdf_sig=is_pdf_sig)
        digest_attr = cms.CMSAttribute({"type": "message_digest", "values": [data_digest]}).dump()
        body = b"".join(sorted([*constant_attrs, digest_attr]))  # DER: SET OF in ascending encoding order
        return cms.CMSAttributes.load(b"\x31" + _der_length(len(body)) + body)

    def signer_info(self, digest_algorithm: str, signed_attrs, signature):  # type: ignore[no-untyped-def]
        if digest_algorithm == "shake256":
            return super().signer_info(digest_algorithm, signed_attrs, signature)  # type: ignore[misc]
        return cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {"issuer_and_serial_number": cms.IssuerAndSerialNumber.load(self._constants()["sid"])}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_algorithm}),
            "signature_algorithm": self.get_signature_mechanism_for_digest(digest_algorithm),
            "signed_attrs": signed_attrs,
            "signature": signature,
        })

    def _package_signature(self, *, digest_algorithm, cms_version, signed_attrs, signature, unsigned_attrs,
                           encap_content_info):  # type: ignore[no-untyped-def]
        if self.attribute_certs:
            return super()._package_signature(  # type: ignore[misc]
                digest_algorithm=digest_algorithm, cms_version=cms_version, signed_attrs=signed_attrs,
                signature=signature, unsigned_attrs=unsigned_attrs, encap_content_info=encap_content_info)
        sig_info = self.signer_info(digest_algorithm, signed_attrs, signature)
        if unsigned_attrs is not None:
            sig_info["unsigned_attrs"] = unsigned_attrs
        return cms.ContentInfo({
            "content_type": cms.ContentType("signed_data"),
            "content": cms.SignedData({
                "version": cms_version,
                "digest_algorithms": cms.DigestAlgorithms((sig_info["digest_algorithm"],)),
                "encap_content_info": encap_content_info or {"content_type": "data"},
                "certificates": [cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(der))
                                 for der in self._constants()["chain"]],
                "signer_infos": [sig_info],
            }),
        })


class LoadedKeySigner(ConstantCmsMixin, signers.SimpleSigner):
    """SimpleSigner that decodes its private key once, not on every signature."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._key = serialization.load_der_private_key(self.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    encoded = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


_pkcs12_cache: dict[tuple[str, str], LoadedKeySigner] = {}
_pkcs12_lock = threading.Lock()


def pkcs12_signer(path: str, passphrase: str) -> LoadedKeySigner:
    """Load a PKCS#12 file once per process and keep the key in memory."""
    key = (path, passphrase)
    with _pkcs12_lock:
        cached = _pkcs12_cache.get(key)
        if cached is not None:
            return cached
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            logger.error("PKCS#12 file not readable: %s", path)
            raise SigningFailed(_("Il certificato di firma non è disponibile."), code="signer_missing") from exc
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            key_obj, cert, extra = pkcs12.load_key_and_certificates(data, passphrase.encode())
        except ValueError as exc:
            logger.warning("PKCS#12 %s: wrong passphrase or corrupt file", path)
            raise WrongPin(_("PIN o password del certificato di firma errati."), code="wrong_pin") from exc
        if key_obj is None or cert is None:
            raise SigningFailed(_("Il file PKCS#12 non contiene chiave e certificato."), code="signer_invalid")
        from asn1crypto import keys as asn1_keys

        der = serialization.Encoding.DER
        signer = LoadedKeySigner(
            signing_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_obj.private_bytes(
                der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(c.public_bytes(der)) for c in (extra or [])]),
        )
        _pkcs12_cache[key] = signer
        return signer


@dataclass
class Pkcs11Token:
    """An open session on a PKCS#11 token; keep it for many signatures."""

    session: object
    signer: signers.Signer

    def close(self) -> None:
        self.session.close()  # type: ignore[attr-defined]


def _fast_pkcs11_class():
    from pyhanko.sign import pkcs11 as hanko_pkcs11

    class FastPkcs11Signer(ConstantCmsMixin, hanko_pkcs11.PKCS11Signer):
        pass

    return FastPkcs11Signer


def pkcs11_signer(*, lib: str, token_label: str, pin: str, key_label: str) -> Pkcs11Token:
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign import pkcs11 as hanko_pkcs11

    try:
        session = hanko_pkcs11.open_pkcs11_session(lib, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
    except pkcs11.exceptions.PinIncorrect as exc:
        logger.warning("PKCS#11 token %s: wrong PIN", token_label)
        raise WrongPin(_("PIN del dispositivo di firma errato."), code="wrong_pin") from exc
    except (pkcs11.exceptions.PKCS11Error, SigningError, OSError) as exc:
        logger.error("PKCS#11 token %s not available: %r", token_label, exc)
        raise SigningFailed(_("Il dispositivo di firma non è disponibile."), code="token_unavailable") from exc
    signer = _fast_pkcs11_class()(session, key_label=key_label, cert_label=key_label)
    return Pkcs11Token(session=session, signer=signer)


class RemoteSigningService(Protocol):
    """A remote signing service: it receives the document digest and returns a CMS
    SignedData (detached) over it, made with a certificate it holds."""

    def certificate(self) -> asn1_x509.Certificate: ...

    def sign_digest(self, *, digest: bytes, digest_algorithm: str) -> bytes: ...


class HttpRemoteSigningClient:
    """Talks JSON over HTTP to a remote signing service:
    GET  <url>/certificate -> {"certificate": base64 DER}
    POST <url>/sign {"digest": base64, "digest_algorithm": "sha256"} -> {"cms": base64 DER}
    """

    def __init__(self, url: str, *, token: str = "", timeout: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise WrongPin(_("Credenziali del servizio di firma remota non valide."), code="wrong_pin") from exc
            raise SigningFailed(_("Il servizio di firma remota ha rifiutato la richiesta."), code="remote_refused") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            logger.error("remote signing service %s unreachable: %r", self.url, exc)
            raise SigningFailed(_("Il servizio di firma remota non è raggiungibile."), code="remote_unreachable") from exc

    def certificate(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(base64.b64decode(self._call("/certificate")["certificate"]))

    def sign_digest(self, *, digest: bytes, digest_algorithm: str) -> bytes:
        out = self._call("/sign", {"digest": base64.b64encode(digest).decode(), "digest_algorithm": digest_algorithm})
        return base64.b64decode(out["cms"])


def remote_cms_for_digest(signer: signers.Signer, *, digest: bytes, digest_algorithm: str) -> bytes:
    """The service side of the remote flow: a PAdES-compatible CMS over a digest."""
    content = _outside_event_loop(lambda: asyncio.run(signer.async_sign(digest, digest_algorithm, use_pades=True)))
    return content.dump()


def _check_validity(cert: asn1_x509.Certificate) -> None:
    now = clock.now()
    validity = cert["tbs_certificate"]["validity"]
    not_after = validity["not_after"].native
    not_before = validity["not_before"].native
    if now > not_after:
        logger.warning("signer certificate expired on %s", not_after)
        raise CertificateExpired(
            _("Il certificato di firma è scaduto il %(date)s.") % {"date": not_after.strftime("%d/%m/%Y")},
            code="certificate_expired")
    if now < not_before:
        raise CertificateExpired(_("Il certificato di firma non è ancora valido."), code="certificate_not_yet_valid")


def _metadata(level: Level, validation_context: ValidationContext | None) -> signers.PdfSignatureMetadata:
    lt = level == Level.B_LT
    if lt and validation_context is None:
        raise SigningFailed(_("Per il livello B-LT serve un contesto di validazione."), code="configuration")
    return signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        embed_validation_info=lt,
        use_pades_lta=False,
        validation_context=validation_context if lt else None,
    )


def _timestamper(level: Level, tsa_url: str | None) -> RequestsHTTPTimeStamper | None:
    if level == Level.B_B:
        return None
    if not tsa_url:
        raise TimestampUnavailable(_("Nessun servizio di marcatura temporale configurato."), code="tsa_missing")
    return RequestsHTTPTimeStamper(tsa_url, timeout=10)


def _open(pdf: bytes | IncrementalPdfFileWriter) -> IncrementalPdfFileWriter:
    if isinstance(pdf, IncrementalPdfFileWriter):  # changes pending: sealed in the same revision
        return pdf
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError) as exc:
        logger.warning("PDF to sign is unreadable: %s", exc)
        raise FileRejected(_("Il PDF da firmare è danneggiato."), code="pdf_corrupt") from exc
    if writer.prev.encrypted:
        raise FileRejected(_("Il PDF da firmare è cifrato."), code="pdf_encrypted")
    return writer


def _translate(exc: Exception) -> SigningFailed:
    text = repr(exc)
    if isinstance(exc, TimestampRequestError) or "timestamp" in text.lower() or "tsa" in text.lower():
        logger.error("TSA unreachable or refused the request: %s", text[:300])
        return TimestampUnavailable(_("Il servizio di marcatura temporale non è raggiungibile."), code="tsa_unreachable")
    logger.error("signature failed: %s", text[:300])
    return SigningFailed(_("La firma del documento non è riuscita."), code="signing_failed")


def _outside_event_loop(fn):  # type: ignore[no-untyped-def]
    """pyHanko's synchronous API starts its own asyncio loop; called from a thread that already
    runs one (an async view, a test driving a browser), it must run in another thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def sign_pdf(pdf: bytes | IncrementalPdfFileWriter, *, signer: signers.Signer, level: Level = Level.B_B, tsa_url: str | None = None,
             validation_context: ValidationContext | None = None) -> bytes:
    """Return the PDF with an invisible PAdES signature at `level`."""
    _check_validity(signer.signing_cert)
    meta = _metadata(level, validation_context)
    timestamper = _timestamper(level, tsa_url)
    writer = _open(pdf)
    out = io.BytesIO()
    try:
        # A fixed reservation skips pyHanko's dry-run signature that only measures the
        # CMS size (half the cost of a B-B signature). Unused bytes are zero padding.
        _outside_event_loop(lambda: signers.PdfSigner(meta, signer=signer, timestamper=timestamper).sign_pdf(
            writer, output=out, bytes_reserved=RESERVED_BYTES[level]))
    except (SigningError, TimestampRequestError, OSError, ValueError) as exc:
        raise _translate(exc) from exc
    except Exception as exc:  # pyHanko wraps network errors in several types
        raise _translate(exc) from exc
    return out.getvalue()


def sign_pdf_remote(pdf: bytes, *, service: RemoteSigningService, level: Level = Level.B_B,
                    tsa_url: str | None = None, validation_context: ValidationContext | None = None) -> bytes:
    """External signature flow: compute the ByteRange digest here, let the service
    return the CMS, embed it. B-T adds the signature timestamp to the returned CMS."""
    cert = service.certificate()
    _check_validity(cert)
    meta = _metadata(level, validation_context)
    placeholder = signers.ExternalSigner(signing_cert=cert, cert_registry=SimpleCertificateStore.from_certs([]),
                                         signature_value=bytes(512))
    writer = _open(pdf)
    pdf_signer = signers.PdfSigner(meta, signer=placeholder, timestamper=None)
    prep, tbs, output = _outside_event_loop(lambda: asyncio.run(
        pdf_signer.async_digest_doc_for_signing(writer, bytes_reserved=32768)))
    cms_bytes = service.sign_digest(digest=prep.document_digest, digest_algorithm="sha256")
    try:
        content = cms.ContentInfo.load(cms_bytes)
        if level != Level.B_B:
            stamper = _timestamper(level, tsa_url)
            assert stamper is not None
            signer_info = content["content"]["signer_infos"][0]
            token = _outside_event_loop(lambda: asyncio.run(stamper.async_timestamp(
                get_pyca_hash_digest(signer_info["signature"].native), "sha256")))
            unsigned = cms.CMSAttributes([cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})])
            signer_info["unsigned_attrs"] = unsigned
            content = cms.ContentInfo.load(content.dump(force=True))
        PdfTBSDocument.finish_signing(output, prep, content,
                                      post_sign_instr=tbs.post_sign_instructions,
                                      validation_context=validation_context)
    except SigningFailed:
        raise
    except Exception as exc:
        raise _translate(exc) from exc
    output.seek(0)
    return output.read()


def get_pyca_hash_digest(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()


def validation_context_for(trust_roots: list[asn1_x509.Certificate], *, fetch: bool = True,
                           other_certs: list[asn1_x509.Certificate] | None = None) -> ValidationContext:
    return ValidationContext(trust_roots=trust_roots, other_certs=other_certs or [], allow_fetching=fetch,
                             revocation_mode="hard-fail" if fetch else "soft-fail")
