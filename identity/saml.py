"""XML and XML-signature plumbing shared by the SP and the demo IdP.

Signatures are made and checked by the `xmlsec1` command (the same engine pysaml2 drives); the
structural checks that make a signature *mean* something (which element it covers, which key made it)
live in identity.validator.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

from lxml import etree

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "spid": "https://spid.gov.it/saml-extensions",
    "cie": "https://www.cartaidentita.interno.gov.it/saml-extensions",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# Signature and digest algorithms SPID accepts (Regole tecniche; SHA-1 is refused).
ALLOWED_SIGNATURE_ALGS = frozenset({
    RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
ALLOWED_DIGEST_ALGS = frozenset({
    SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})
ALLOWED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"})
ALLOWED_C14N = frozenset({EXC_C14N, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"})

# xs:dateTime in UTC as SAML wants it (SAML core 1.3.3), optional fraction of a second.
_INSTANT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$")


class XmlError(ValueError):
    pass


def q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, no huge trees."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise XmlError("DTD not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False,
                             huge_tree=False, remove_comments=False, remove_pis=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XmlError(str(exc)) from exc
    return root


def format_instant(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str | None) -> dt.datetime:
    match = _INSTANT.match(value or "")
    if not match:
        raise XmlError(f"bad instant {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.UTC)
    except ValueError as exc:
        raise XmlError(f"bad instant {value!r}") from exc


def pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def body_to_pem(body: str) -> str:
    body = re.sub(r"\s+", "", body)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if not found:
        raise RuntimeError("xmlsec1 is not installed (apt package xmlsec1; `make system`)")
    return found


def signature_template(*, reference_id: str, cert_pem: str) -> etree._Element:
    ds = NS["ds"]
    sig = etree.Element(q("ds", "Signature"), nsmap={"ds": ds})
    signed_info = etree.SubElement(sig, q("ds", "SignedInfo"))
    etree.SubElement(signed_info, q("ds", "CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, q("ds", "SignatureMethod"), Algorithm=RSA_SHA256)
    ref = etree.SubElement(signed_info, q("ds", "Reference"), URI=f"#{reference_id}")
    transforms = etree.SubElement(ref, q("ds", "Transforms"))
    etree.SubElement(transforms, q("ds", "Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, q("ds", "Transform"), Algorithm=EXC_C14N)
    etree.SubElement(ref, q("ds", "DigestMethod"), Algorithm=SHA256)
    etree.SubElement(ref, q("ds", "DigestValue"))
    etree.SubElement(sig, q("ds", "SignatureValue"))
    key_info = etree.SubElement(sig, q("ds", "KeyInfo"))
    x509 = etree.SubElement(key_info, q("ds", "X509Data"))
    etree.SubElement(x509, q("ds", "X509Certificate")).text = pem_body(cert_pem)
    return sig


def insert_signature(element: etree._Element, *, cert_pem: str) -> None:
    """Put an enveloped signature template into `element`, right after its Issuer (SAML schema order)."""
    sig = signature_template(reference_id=element.get("ID"), cert_pem=cert_pem)
    issuer = element.find(q("saml", "Issuer"))
    if issuer is not None:
        issuer.addnext(sig)
    else:
        element.insert(0, sig)


def sign_document(root: etree._Element | bytes, *, key_file: Path, cert_file: Path, id_nodes: list[str],
                  node_xpath: str | None = None) -> bytes:
    """Fill the signature template `node_xpath` selects (default: the first one), returns the XML."""
    data = root if isinstance(root, bytes) else etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with tempfile.NamedTemporaryFile(suffix=".xml") as src:
        src.write(data)
        src.flush()
        cmd = [xmlsec_binary(), "--sign", "--privkey-pem", f"{key_file},{cert_file}"]
        for node in id_nodes:
            cmd += ["--id-attr:ID", node]
        if node_xpath:
            cmd += ["--node-xpath", node_xpath]
        cmd += ["--output", "/dev/stdout", src.name]
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"xmlsec1 could not sign: {done.stderr.decode(errors='replace')[:500]}")
    return done.stdout


def verify_signature(data: bytes, *, cert_pems: list[str], node_xpath: str, id_nodes: list[str]) -> bool:
    """True when the ds:Signature found by `node_xpath` verifies with one of the trusted certificates.

    Only the trusted certificates are used as keys (`raw-x509-cert`): a certificate the message carries
    in its own KeyInfo never counts. References may only point inside this document."""
    for pem in cert_pems:
        with tempfile.NamedTemporaryFile(suffix=".xml") as src, tempfile.NamedTemporaryFile(suffix=".pem", mode="w") as crt:
            src.write(data)
            src.flush()
            crt.write(pem)
            crt.flush()
            cmd = [xmlsec_binary(), "--verify", "--enabled-reference-uris", "same-doc",
                   "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", crt.name,
                   "--node-xpath", node_xpath]
            for node in id_nodes:
                cmd += ["--id-attr:ID", node]
            cmd.append(src.name)
            done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        if done.returncode == 0:
            return True
    return False


def redirect_encode(xml: bytes) -> str:
    """SAML HTTP-Redirect binding: raw DEFLATE then base64."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def redirect_decode(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=False)
        decompressor = zlib.decompressobj(-15)
        out = decompressor.decompress(raw, 512 * 1024)
    except (ValueError, zlib.error) as exc:
        raise XmlError("bad redirect encoding") from exc
    if decompressor.unconsumed_tail:
        raise XmlError("request too large")
    return out
