"""The shipped nginx configuration: `nginx -t` accepts it, and a running nginx built from it
overwrites the headers the app trusts, refuses oversized bodies, and forwards to the web processes."""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"


def _nginx() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is not installed: run scripts/ensure-system.sh")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tls: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "procedo.example.it")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tls / "fullchain.pem").write_bytes(pem)
    (tls / "cns-ca.pem").write_bytes(pem)
    (tls / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _configure(tmp: Path, *, upstream_port: int, http_port: int, https_port: int, var_dir: Path | None = None) -> Path:
    conf_dir = tmp / "procedo"
    (conf_dir / "tls").mkdir(parents=True)
    _self_signed(conf_dir / "tls")
    for source in NGINX_DIR.glob("*.conf"):
        text = source.read_text().replace("/etc/nginx/procedo/", f"{conf_dir}/")
        text = text.replace("/srv/procedo/var", str(var_dir or tmp / "var"))
        text = text.replace("web1:8000", f"127.0.0.1:{upstream_port}").replace("web2:8000", f"127.0.0.1:{upstream_port}")
        text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        text = text.replace("listen [::]:443 ssl http2;", "")
        (conf_dir / source.name).write_text(text)
    main = tmp / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {conf_dir}/procedo.conf;\n}}\n"
    )
    return main


def _start_nginx(tmp: Path, main: Path, https_port: int) -> subprocess.Popen:
    """nginx on the configuration `main`, once it accepts connections on its HTTPS port."""
    proc = subprocess.Popen([_nginx(), "-p", str(tmp), "-c", str(main)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("nginx did not start: " + (tmp / "error.log").read_text(errors="replace"))
            time.sleep(0.1)


def _insecure_tls() -> ssl.SSLContext:
    """The test's self-signed certificate: no verification."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_nginx_accepts_the_shipped_configuration(tmp_path):
    main = _configure(tmp_path, upstream_port=_free_port(), http_port=_free_port(), https_port=_free_port())
    check = subprocess.run([_nginx(), "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_proxy_overwrites_trusted_headers_and_refuses_oversized_bodies(tmp_path):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    https_port = _free_port()
    main = _configure(tmp_path, upstream_port=upstream.server_address[1], http_port=_free_port(),
                      https_port=https_port)
    proc = _start_nginx(tmp_path, main, https_port)
    try:
        context = _insecure_tls()

        def request(method, headers, host="procedo.example.it"):
            conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=10)
            conn.request(method, "/api/v1/cases/", headers={"Host": host, **headers})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            return response.status, body

        status, body = request("GET", {
            "X-Procedo-Client-Cert": "forged", "X-Procedo-Client-Verify": "SUCCESS",
            "X-Procedo-Client-DN": "CN=RSSMRA80A01H501U", "X-Forwarded-For": "10.9.9.9",
            "X-Forwarded-Proto": "http",
        })
        assert status == 200
        seen = json.loads(body)
        # An empty value makes nginx drop the header: the forged ones are gone.
        assert "x-procedo-client-cert" not in seen and seen["x-procedo-client-verify"] == "NONE"
        assert "x-procedo-client-dn" not in seen
        assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "https"

        # On the CNS name without a card: nginx says so, and still nothing forged gets through.
        status, body = request("GET", {"X-Procedo-Client-Verify": "SUCCESS", "X-Procedo-Client-Cert": "forged"},
                               host="cns.procedo.example.it")
        seen = json.loads(body)
        assert seen["x-procedo-client-verify"] == "NONE" and "x-procedo-client-cert" not in seen

        limit = settings.PROCEDO_MAX_REQUEST_BYTES
        status, _ = request("POST", {"Content-Length": str(limit + 1), "Content-Type": "application/json"})
        assert status == 413
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.shutdown()


def test_hashed_static_names_are_cached_for_a_year_and_plain_ones_for_an_hour(tmp_path):
    # nginx's workers run as an unprivileged user: the static root must be readable by them
    # (pytest's own temporary folders are private to root).
    var_dir = Path(tempfile.mkdtemp(prefix="procedo-nginx-static-"))
    var_dir.chmod(0o755)
    static = var_dir / "static" / "css"
    static.mkdir(parents=True)
    for folder in (var_dir / "static", static):
        folder.chmod(0o755)
    (static / "procedo.css").write_text("body{}")
    (static / "procedo.0123456789ab.css").write_text("body{}")
    https_port = _free_port()
    main = _configure(tmp_path, upstream_port=_free_port(), http_port=_free_port(), https_port=https_port,
                      var_dir=var_dir)
    proc = _start_nginx(tmp_path, main, https_port)
    try:
        context = _insecure_tls()

        def get(path):
            conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=10)
            conn.request("GET", path, headers={"Host": "procedo.example.it"})
            response = conn.getresponse()
            response.read()
            conn.close()
            return response.status, response.getheader("Cache-Control") or "", response.getheader("X-Content-Type-Options")

        status, cache, nosniff = get("/static/css/procedo.0123456789ab.css")
        assert (status, cache, nosniff) == (200, "public, max-age=31536000, immutable", "nosniff")
        status, cache, nosniff = get("/static/css/procedo.css")
        assert (status, cache, nosniff) == (200, "max-age=3600", "nosniff")
        # A dotted path is normalised by nginx before matching: it never reaches a file outside /static/.
        assert get("/static/css/../../nginx.pid")[0] != 200
        assert get("/static/css/missing.css")[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(var_dir, ignore_errors=True)
