"""The shipped nginx configuration (deploy/nginx/) rendered for this machine: the same files, with
the upstream pointed at local gunicorn ports, listening on free loopback ports, a self-signed
certificate, and the paths moved under a scratch folder. Nothing else is changed: the proxy the
fault run goes through is the one an operator installs."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
SERVER_NAME = "procedo.example.it"


def _self_signed(tls: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tls / "fullchain.pem").write_bytes(pem)
    (tls / "cns-ca.pem").write_bytes(pem)
    (tls / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def render(folder: Path, *, upstreams: list[int], http_port: int, https_port: int, var_dir: Path) -> Path:
    """Write the configuration under `folder`; returns the main nginx.conf to start nginx with."""
    conf_dir = folder / "procedo"
    (conf_dir / "tls").mkdir(parents=True, exist_ok=True)
    _self_signed(conf_dir / "tls")
    servers = "\n".join(f"    server 127.0.0.1:{port};" for port in upstreams)
    for source in NGINX_DIR.glob("*.conf"):
        text = source.read_text().replace("/etc/nginx/procedo/", f"{conf_dir}/")
        text = text.replace("/srv/procedo/var", str(var_dir))
        text = text.replace("    server web1:8000;\n    server web2:8000;", servers)
        text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        text = text.replace("listen [::]:443 ssl http2;", "")
        (conf_dir / source.name).write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nworker_processes 1;\nevents {{}}\n"
        f"http {{\n  log_format upstreams '$status $request_method $uri $upstream_addr $upstream_status';\n"
        f"  access_log {folder}/access.log upstreams;\n  include {conf_dir}/procedo.conf;\n}}\n"
    )
    return main


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: run scripts/ensure-system.sh")
    return binary


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: " + (log.read_text(errors="replace") if log.exists() else "")) from None
            time.sleep(0.1)
