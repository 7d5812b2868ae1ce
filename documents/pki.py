"""Demo PKI: a CA, a signer certificate per demo tenant, a TSA certificate, and
small loopback RFC 3161 / OCSP / CRL responders for B-T and B-LT in tests.

Generated at setup into var/ (scripts/setup.d/documents.sh), never committed.
Not for production: a real deployment signs with a qualified certificate.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str, org: str = "Procedo demo") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def pkcs12(self, passphrase: str, chain: list[x509.Certificate]) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            b"signer", self.key, self.cert, chain,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_der(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def make_ca(now: dt.datetime | None = None) -> Issued:
    now = now or dt.datetime.now(dt.UTC)
    key = new_key()
    cert = (
        x509.CertificateBuilder().subject_name(_name("Procedo Demo CA")).issuer_name(_name("Procedo Demo CA"))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue(ca: Issued, cn: str, *, org: str = "Procedo demo", tsa: bool = False, ocsp_signer: bool = False,
          ocsp_url: str | None = None, crl_url: str | None = None,
          not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> Issued:
    now = dt.datetime.now(dt.UTC)
    key = new_key()
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(ca.cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if tsa:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    elif ocsp_signer:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    else:
        # digitalSignature + nonRepudiation (contentCommitment) for a signer of deeds
        builder = builder.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)),
        ]), critical=False)
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None),
        ]), critical=False)
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def write_demo_pki(directory: Path, *, tenants: list[str], passphrase: str = "demo") -> None:
    """CA + one signer per demo tenant as PKCS#12 (and PEM) files under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "ca.pem"
    if ca_path.exists() and all((directory / f"signer-{t}.p12").exists() for t in tenants):
        return
    ca = make_ca()
    ca_path.write_bytes(ca.cert_pem)
    (directory / "ca-key.der").write_bytes(ca.key_der)
    for tenant in tenants:
        signer = issue(ca, f"Ufficiale d'anagrafe - {tenant}", org=f"Comune {tenant}")
        (directory / f"signer-{tenant}.p12").write_bytes(signer.pkcs12(passphrase, [ca.cert]))
        (directory / f"signer-{tenant}.pem").write_bytes(signer.cert_pem)
        (directory / f"signer-{tenant}-key.der").write_bytes(signer.key_der)
    for path in directory.iterdir():
        path.chmod(0o600)


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def asn1_key(key: rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class _Handler(BaseHTTPRequestHandler):
    responders: dict  # path -> callable(body) -> (content_type, bytes)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet in tests
        return

    def _respond(self, body: bytes) -> None:
        route = self.responders.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        ctype, data = route(body)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._respond(self.rfile.read(length))

    def do_GET(self) -> None:  # noqa: N802
        self._respond(b"")


class LocalTrustServices:
    """RFC 3161 TSA, OCSP responder and CRL on 127.0.0.1 (ephemeral port), for tests,
    the benchmark and demo mode. Start, then issue signer certificates pointing here."""

    def __init__(self, ca: Issued | None = None) -> None:
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        self.ca = ca or make_ca()
        handler = type("Handler", (_Handler,), {"responders": {
            "/tsa": self._tsa, "/ocsp": self._ocsp, "/crl": self._crl,
        }})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.tsa_cert = issue(self.ca, "Procedo Demo TSA", tsa=True)
        self.ocsp_cert = issue(self.ca, "Procedo Demo OCSP", ocsp_signer=True)
        self._stamper = DummyTimeStamper(
            tsa_cert=asn1_cert(self.tsa_cert.cert), tsa_key=asn1_key(self.tsa_cert.key),
            certs_to_embed=[asn1_cert(self.ca.cert)],
        )
        self.revoked: set[int] = set()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def tsa_url(self) -> str:
        return self.base_url + "/tsa"

    @property
    def ocsp_url(self) -> str:
        return self.base_url + "/ocsp"

    @property
    def crl_url(self) -> str:
        return self.base_url + "/crl"

    def issue_signer(self, cn: str, **kwargs: object) -> Issued:
        return issue(self.ca, cn, ocsp_url=self.ocsp_url, crl_url=self.crl_url, **kwargs)  # type: ignore[arg-type]

    def start(self) -> LocalTrustServices:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _tsa(self, body: bytes) -> tuple[str, bytes]:
        req = tsp.TimeStampReq.load(body)
        return "application/timestamp-reply", self._stamper.request_tsa_response(req).dump()

    def _ocsp(self, body: bytes) -> tuple[str, bytes]:
        req = ocsp.load_der_ocsp_request(body)
        now = dt.datetime.now(dt.UTC)
        # The responder knows only the certificates of its CA; status by serial.
        status = ocsp.OCSPCertStatus.REVOKED if req.serial_number in self.revoked else ocsp.OCSPCertStatus.GOOD
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash, issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number, algorithm=req.hash_algorithm, cert_status=status,
            this_update=now - dt.timedelta(minutes=1), next_update=now + dt.timedelta(hours=1),
            revocation_time=now - dt.timedelta(minutes=5) if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_cert.cert).certificates([self.ocsp_cert.cert])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        resp = builder.sign(self.ocsp_cert.key, hashes.SHA256())
        return "application/ocsp-response", resp.public_bytes(serialization.Encoding.DER)

    def _crl(self, body: bytes) -> tuple[str, bytes]:
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.ca.cert.subject)
                   .last_update(now - dt.timedelta(minutes=1)).next_update(now + dt.timedelta(days=1)))
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        crl = builder.sign(self.ca.key, hashes.SHA256())
        return "application/pkix-crl", crl.public_bytes(serialization.Encoding.DER)
