"""ANPR's SOAP channel authenticates the comune's certificate (mutual TLS): the client presents
the tenant's certificate and checks the server's against the configured CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.errors import ConfigurationError
from common.operations import ConnectorError
from connectors.anpr import messages, soap
from connectors.anpr.client import AnprClient
from connectors.anpr.simulator import AnprSimulator
from connectors.pdnd.keys import client_key


def _cert(name, key, issuer=None, issuer_key=None, *, ca=False, ip=None):
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer.subject if issuer else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(path, cert, key):
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture
def tls_anpr(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ANPR test CA", ca_key, ca=True)
    ca_file, _ = _write(tmp_path / "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_files = _write(tmp_path / "server", _cert("127.0.0.1", server_key, ca, ca_key, ip="127.0.0.1"), server_key)
    client_key_ = ec.generate_private_key(ec.SECP256R1())
    client_files = _write(tmp_path / "comune", _cert("Comune di Capannori - postazione 1", client_key_, ca, ca_key),
                          client_key_)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*server_files)
    context.load_verify_locations(ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    app = AnprSimulator()
    seen: list[str] = []

    class Handler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

        def get_environ(self):
            peer = self.connection.getpeercert()
            seen.append(dict(x[0] for x in peer["subject"])["commonName"])
            return super().get_environ()

    server = make_server("127.0.0.1", 0, app, handler_class=Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", ca_file, client_files, seen, app
    server.shutdown()
    server.server_close()


def _call(client):
    return client.call(soap.SERVIZI_CITTADINO, messages.elenco_richieste(
        client.header("P001", "1"), date_from="2026-11-01", date_to="2026-11-30", request_type="2"))


def test_the_comune_certificate_is_presented_and_the_server_checked(tls_anpr):
    url, ca_file, client_files, seen, _app = tls_anpr
    key = client_key({}, "046007")
    client = AnprClient(url, sender="046007", key=key, token_url="http://127.0.0.1:9/token.oauth2",
                        client_cert=client_files, ca_file=ca_file)
    assert _call(client).ok
    assert seen == ["Comune di Capannori - postazione 1"]
    without = AnprClient(url, sender="046007", key=key, token_url="http://127.0.0.1:9/token.oauth2", ca_file=ca_file)
    with pytest.raises(ConnectorError):
        _call(without)  # the server refuses a connection without the comune's certificate
    untrusted = AnprClient(url, sender="046007", key=key, token_url="http://127.0.0.1:9/token.oauth2",
                           client_cert=client_files)
    with pytest.raises(ConnectorError):
        _call(untrusted)  # and we refuse a server whose certificate our CA did not issue


def test_an_unreadable_client_certificate_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        AnprClient("https://127.0.0.1:1", sender="046007", key=client_key({}, "046007"),
                   token_url="http://127.0.0.1:9/token.oauth2",
                   client_cert=(str(tmp_path / "missing.crt"), str(tmp_path / "missing.key")))
    assert "certificato client" in str(info.value)
