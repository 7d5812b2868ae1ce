from __future__ import annotations

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from documents import signing
from documents.errors import CertificateExpired, FileRejected, SigningFailed, TimestampUnavailable, WrongPin
from documents.pki import asn1_cert
from documents.signing import Level
from documents.verify import verify_pdf


def _pdfsig(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


def _check(pdf: bytes, trust, tmp_path, *, level: str, signer_cn: str) -> None:
    [report] = verify_pdf(pdf, trust_roots=[asn1_cert(trust.ca.cert)])
    assert report.intact and report.valid and report.trusted
    assert report.level == level
    assert signer_cn in report.signer
    assert (report.timestamp is not None) == (level != "B-B")
    out = _pdfsig(pdf, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    assert "ETSI.CAdES.detached" in out  # PAdES subfilter
    assert signer_cn in out


@pytest.mark.parametrize("level", list(Level))
def test_pkcs12_signatures_validate_at_each_level(level, sample_pdf, p12_signer, trust, validation_context, tmp_path):
    signed = signing.sign_pdf(sample_pdf, signer=p12_signer, level=level, tsa_url=trust.tsa_url,
                              validation_context=validation_context)
    _check(signed, trust, tmp_path, level=level.value, signer_cn="Laura Verdi")
    if level == Level.B_LT:
        assert b"/DSS" in signed and b"/OCSPs" in signed


@pytest.mark.parametrize("level", [Level.B_B, Level.B_T])
def test_pkcs11_softhsm_signatures_validate(level, sample_pdf, softhsm_token, trust, tmp_path):
    signed = signing.sign_pdf(sample_pdf, signer=softhsm_token.signer, level=level, tsa_url=trust.tsa_url)
    [report] = verify_pdf(signed)
    assert report.intact and report.valid and report.level == level.value
    assert "Ufficiale d'anagrafe - demo" in report.signer
    assert "Signature is Valid." in _pdfsig(signed, tmp_path)


class _RemoteService:
    """A remote signing service on loopback: digest in, CMS out."""

    def __init__(self, signer, token: str) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                return

            def _send(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._send(200, {"certificate": base64.b64encode(signer.signing_cert.dump()).decode()})

            def do_POST(self):  # noqa: N802
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self._send(401, {})
                    return
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.digests.append(req["digest"])
                cms = signing.remote_cms_for_digest(signer, digest=base64.b64decode(req["digest"]),
                                                    digest_algorithm=req["digest_algorithm"])
                self._send(200, {"cms": base64.b64encode(cms).decode()})

        self.digests: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def remote_service(p12_signer):
    svc = _RemoteService(p12_signer, token="t0ken")
    yield svc
    svc.stop()


@pytest.mark.parametrize("level", [Level.B_B, Level.B_T])
def test_remote_signing_sends_only_the_digest_and_embeds_the_returned_cms(level, remote_service, sample_pdf, trust, tmp_path):
    client = signing.HttpRemoteSigningClient(remote_service.url, token="t0ken")
    signed = signing.sign_pdf_remote(sample_pdf, service=client, level=level, tsa_url=trust.tsa_url)
    assert len(remote_service.digests) == 1 and len(base64.b64decode(remote_service.digests[0])) == 32
    _check(signed, trust, tmp_path, level=level.value, signer_cn="Laura Verdi")


def test_remote_signing_with_wrong_credentials_is_a_clear_error(remote_service, sample_pdf):
    client = signing.HttpRemoteSigningClient(remote_service.url, token="sbagliato")
    with pytest.raises(WrongPin):
        signing.sign_pdf_remote(sample_pdf, service=client)


def test_a_wrong_pkcs12_passphrase_is_refused(signer_p12):
    with pytest.raises(WrongPin) as err:
        signing.pkcs12_signer(str(signer_p12), "sbagliata")
    assert "PIN" in err.value.message


def test_a_wrong_token_pin_is_refused(softhsm_token):
    # PKCS#11 login state is per process and this process is already logged in:
    # try the wrong PIN from a fresh interpreter.
    import os
    import sys

    script = (
        "import django; django.setup()\n"
        "from documents import hsm, signing\n"
        "from documents.errors import WrongPin\n"
        "hsm.activate()\n"
        "try:\n"
        "    signing.pkcs11_signer(lib=hsm.module_path(), token_label=hsm.TOKEN_LABEL, pin='000000', key_label=hsm.KEY_LABEL)\n"
        "except WrongPin as e:\n"
        "    print('WRONG_PIN', e.code)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert "WRONG_PIN wrong_pin" in out.stdout, out.stderr[-2000:]


def test_an_expired_certificate_does_not_sign(expired_p12, sample_pdf):
    signer = signing.pkcs12_signer(str(expired_p12), "segreta")
    with pytest.raises(CertificateExpired) as err:
        signing.sign_pdf(sample_pdf, signer=signer)
    assert "scaduto" in err.value.message


def test_an_unreachable_tsa_is_a_clear_error(sample_pdf, p12_signer):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TimestampUnavailable) as err:
        signing.sign_pdf(sample_pdf, signer=p12_signer, level=Level.B_T, tsa_url=f"http://127.0.0.1:{port}/tsa")
    assert err.value.code == "tsa_unreachable"


@pytest.mark.parametrize("data,code", [
    (b"%PDF-1.7\n garbage garbage", "pdf_corrupt"),
    (b"not a pdf at all", "pdf_corrupt"),
])
def test_a_corrupt_pdf_is_refused_before_signing(data, code, p12_signer):
    with pytest.raises(FileRejected) as err:
        signing.sign_pdf(data, signer=p12_signer)
    assert err.value.code == code


def test_a_tampered_signed_pdf_is_reported_as_altered(sample_pdf, p12_signer):
    signed = bytearray(signing.sign_pdf(sample_pdf, signer=p12_signer))
    idx = signed.find(b"/DocChecksum /")  # inside the signed byte range
    assert idx > 0
    pos = idx + len(b"/DocChecksum /")
    signed[pos:pos + 1] = b"0" if signed[pos:pos + 1] != b"0" else b"1"
    reports = verify_pdf(bytes(signed))
    assert reports and not reports[0].intact


def test_verify_pdf_command_prints_level_signer_timestamp_integrity(sample_pdf, p12_signer, trust, ca_pem, tmp_path, capsys):
    path = tmp_path / "signed.pdf"
    path.write_bytes(signing.sign_pdf(sample_pdf, signer=p12_signer, level=Level.B_T, tsa_url=trust.tsa_url))
    call_command("verify_pdf", str(path), "--trust", str(ca_pem))
    out = capsys.readouterr().out
    assert "level: PAdES B-T" in out
    assert "Laura Verdi" in out
    assert "integrity: intact" in out
    assert "trusted: yes" in out
    assert "timestamp: -" not in out


def test_signing_failure_never_leaves_partial_output(sample_pdf, p12_signer):
    with pytest.raises(SigningFailed):
        signing.sign_pdf(sample_pdf, signer=p12_signer, level=Level.B_LT, validation_context=None)


def test_the_fast_cms_path_encodes_what_pyhanko_would(p12_signer, signer_p12):
    """The loaded signer reuses the encoding of everything constant in the CMS; its signed
    attributes, signer identifier and certificates must equal pyHanko's own, bit for bit."""
    import asyncio

    from pyhanko.sign import signers as pyhanko_signers
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    plain = pyhanko_signers.SimpleSigner.load_pkcs12(str(signer_p12), passphrase=b"segreta")
    digest = bytes(range(32))

    async def attrs(signer):
        return await signer.signed_attrs(digest, "sha256", attr_settings=PdfCMSSignedAttributes(), use_pades=True)

    fast, reference = asyncio.run(attrs(p12_signer)), asyncio.run(attrs(plain))
    assert fast.dump() == reference.dump()
    assert fast.dump() != asyncio.run(p12_signer.signed_attrs(bytes(32), "sha256", use_pades=True)).dump()
    info_fast = p12_signer.signer_info("sha256", fast, b"sig")
    info_ref = plain.signer_info("sha256", reference, b"sig")
    assert info_fast.dump() == info_ref.dump()
    cms_fast = p12_signer._package_signature(digest_algorithm="sha256", cms_version="v1", signed_attrs=fast,
                                             signature=b"sig", unsigned_attrs=None, encap_content_info=None)
    cms_ref = plain._package_signature(digest_algorithm="sha256", cms_version="v1", signed_attrs=reference,
                                       signature=b"sig", unsigned_attrs=None, encap_content_info=None)
    assert sorted(c.chosen.dump() for c in cms_fast["content"]["certificates"]) == \
        sorted(c.chosen.dump() for c in cms_ref["content"]["certificates"])
    assert cms_fast["content"]["signer_infos"].dump() == cms_ref["content"]["signer_infos"].dump()
