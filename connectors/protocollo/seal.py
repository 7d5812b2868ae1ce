"""XMLDSig enveloped signature (RSA-SHA256, exclusive C14N) with XAdES baseline-B signed properties.

The segnatura 3.0.0 schema requires a `ds:Signature` that implements XAdES
baseline B (ETSI EN 319 132-1), applied with the AOO's electronic seal. We sign
with the tenant's seal key and certificate (credentials `seal_key_pem`,
`seal_cert_pem`); in demo mode a self-signed seal is generated per tenant.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from common import clock
from common.keys import private_key_from_pem

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_PROPS_TYPE = "http://uri.etsi.org/01903#SignedProperties"


class SealError(Exception):
    pass


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _without_signature(root: etree._Element) -> etree._Element:
    copy = etree.fromstring(etree.tostring(root))
    for sig in copy.findall(_ds("Signature")):
        copy.remove(sig)
    return copy


def sign_enveloped(root: etree._Element, *, key_pem: bytes, cert_pem: bytes) -> etree._Element:
    """Append a ds:Signature (XAdES-B-B) as the last child of `root`; returns root."""
    key = private_key_from_pem(key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError("the seal key must be RSA")
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    sig_id = f"sig-{uuid.uuid4().hex[:12]}"
    props_id = f"{sig_id}-signedprops"

    doc_digest = _b64sha256(_c14n(_without_signature(root)))

    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DS}, Id=sig_id)
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=RSA_SHA256)
    ref = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(ref, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(ref, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(ref, _ds("DigestValue")).text = doc_digest
    props_ref = etree.SubElement(signed_info, _ds("Reference"), URI=f"#{props_id}", Type=SIGNED_PROPS_TYPE)
    props_transforms = etree.SubElement(props_ref, _ds("Transforms"))
    etree.SubElement(props_transforms, _ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(props_ref, _ds("DigestMethod"), Algorithm=SHA256)
    props_digest = etree.SubElement(props_ref, _ds("DigestValue"))
    signature_value = etree.SubElement(signature, _ds("SignatureValue"))
    key_info = etree.SubElement(signature, _ds("KeyInfo"))
    x509_data = etree.SubElement(key_info, _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = base64.b64encode(cert_der).decode()

    obj = etree.SubElement(signature, _ds("Object"))
    qp = etree.SubElement(obj, f"{{{XADES}}}QualifyingProperties", nsmap={"xades": XADES}, Target=f"#{sig_id}")
    sp = etree.SubElement(qp, f"{{{XADES}}}SignedProperties", Id=props_id)
    ssp = etree.SubElement(sp, f"{{{XADES}}}SignedSignatureProperties")
    etree.SubElement(ssp, f"{{{XADES}}}SigningTime").text = (
        clock.now().astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )
    signing_cert = etree.SubElement(ssp, f"{{{XADES}}}SigningCertificateV2")
    cert_el = etree.SubElement(signing_cert, f"{{{XADES}}}Cert")
    cert_digest = etree.SubElement(cert_el, f"{{{XADES}}}CertDigest")
    etree.SubElement(cert_digest, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(cert_digest, _ds("DigestValue")).text = _b64sha256(cert_der)

    props_digest.text = _b64sha256(_c14n(sp))
    signature_value.text = base64.b64encode(
        key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return root


def verify_enveloped(root: etree._Element) -> x509.Certificate:
    """Check digests and signature value; return the signer's certificate. Raises SealError."""
    signature = root.find(_ds("Signature"))
    if signature is None:
        raise SealError("no ds:Signature")
    signed_info = signature.find(_ds("SignedInfo"))
    cert_text = signature.findtext(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    if signed_info is None or not cert_text:
        raise SealError("incomplete ds:Signature")
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_text))
    for ref in signed_info.findall(_ds("Reference")):
        uri = ref.get("URI", "")
        if uri == "":
            data = _c14n(_without_signature(root))
        else:
            targets = [el for el in signature.iter() if el.get("Id") == uri.lstrip("#")]
            if len(targets) != 1:
                raise SealError(f"reference {uri} not found")
            data = _c14n(targets[0])
        if _b64sha256(data) != (ref.findtext(_ds("DigestValue")) or "").strip():
            raise SealError(f"digest mismatch for reference {uri!r}")
    value = base64.b64decode(signature.findtext(_ds("SignatureValue")) or "")
    try:
        cert.public_key().verify(value, _c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    except Exception as exc:
        raise SealError("signature value does not verify") from exc
    return cert


_demo_seals: dict[str, tuple[bytes, bytes]] = {}
_demo_lock = threading.Lock()


def demo_seal(name: str) -> tuple[bytes, bytes]:
    """A self-signed RSA seal for demo/test tenants (never for production: no qualified CA)."""
    with _demo_lock:
        if name not in _demo_seals:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            subject = x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64] or "Comune Demo"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Sigillo demo {name}"[:64]),
            ])
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256())
            )
            _demo_seals[name] = (
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
                cert.public_bytes(serialization.Encoding.PEM),
            )
        return _demo_seals[name]
