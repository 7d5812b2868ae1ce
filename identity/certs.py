"""Key and self-signed certificate of the service provider, per Avviso SPID n. 29 v3.

Subject: commonName, organizationName, organizationIdentifier `PA:IT-<IPA code>`, uri (the entity
ID), countryName IT, localityName; certificatePolicies agIDroot (1.3.76.16), agIDcert (1.3.76.16.6)
and the public-sector SP policy (1.3.76.16.4.2.1); keyUsage digitalSignature + nonRepudiation
(critical); RSA 3072, SHA-256. Generated for the demo under var/ and never committed: a real SP
registers its own certificate with AgID.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

OID_URI = x509.ObjectIdentifier("2.5.4.83")
OID_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
POLICY_AGID_ROOT = "1.3.76.16"
POLICY_AGID_CERT = "1.3.76.16.6"
POLICY_SP_PUBLIC = "1.3.76.16.4.2.1"


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def sp_certificate_create(*, key_file: Path, cert_file: Path, common_name: str, organization: str, ipa_code: str,
                          entity_id: str, locality: str, days: int = 730) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(OID_ORGANIZATION_IDENTIFIER, f"PA:IT-{ipa_code}"),
        x509.NameAttribute(OID_URI, entity_id),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, locality),
    ])
    now = dt.datetime.now(dt.UTC)
    policies = x509.CertificatePolicies([
        x509.PolicyInformation(x509.ObjectIdentifier(POLICY_AGID_ROOT), [x509.UserNotice(None, "AgIDroot")]),
        x509.PolicyInformation(x509.ObjectIdentifier(POLICY_AGID_CERT), [x509.UserNotice(None, "agIDcert")]),
        x509.PolicyInformation(x509.ObjectIdentifier(POLICY_SP_PUBLIC), [x509.UserNotice(None, "cert_SP_Pub")]),
    ])
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key()).serial_number(serial)
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(policies, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    cert = builder.sign(key, hashes.SHA256())
    _write_key(key_file, key)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def plain_certificate_create(*, key_file: Path, cert_file: Path, common_name: str, days: int = 730) -> None:
    """A plain self-signed signing certificate (the demo identity provider's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "IT")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    _write_key(key_file, key)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
