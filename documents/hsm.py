"""Project-local SoftHSM2 token for development and tests (PKCS#11 signing).

The token lives under var/documents/softhsm/ through SOFTHSM2_CONF, never in the
system-wide /var/lib/softhsm. It holds the demo signer's key and certificate.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from . import conf

logger = logging.getLogger(__name__)

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
TOKEN_LABEL = "procedo-demo"
KEY_LABEL = "signer"
USER_PIN = "123456"
SO_PIN = "12345678"


def module_path() -> str | None:
    return next((p for p in MODULE_CANDIDATES if Path(p).exists()), None)


def softhsm_dir() -> Path:
    return conf.documents_var_dir() / "softhsm"


def softhsm_conf() -> Path:
    return softhsm_dir() / "softhsm2.conf"


def activate() -> None:
    """Point SoftHSM at the project token directory (before the module is loaded)."""
    os.environ["SOFTHSM2_CONF"] = str(softhsm_conf())


def ensure_token(*, key_der: Path, cert_pem: Path) -> None:
    """Create the token and import key + certificate once; idempotent."""
    module = module_path()
    if module is None or shutil.which("softhsm2-util") is None or shutil.which("pkcs11-tool") is None:
        raise RuntimeError("softhsm2 and opensc are needed (scripts/apt/documents.txt)")
    base = softhsm_dir()
    tokens = base / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    softhsm_conf().write_text(f"directories.tokendir = {tokens.resolve()}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(softhsm_conf())}
    listing = subprocess.run(["softhsm2-util", "--show-slots"], env=env, capture_output=True, text=True, check=True).stdout
    if f"Label:            {TOKEN_LABEL}" in listing and (base / "imported").exists():
        return
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", USER_PIN,
                    "--so-pin", SO_PIN], env=env, capture_output=True, check=True)
    cert_der = base / "signer-cert.der"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_der.write_bytes(x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_bytes(serialization.Encoding.DER))
    common = ["pkcs11-tool", "--module", module, "--token-label", TOKEN_LABEL, "--login", "--pin", USER_PIN]
    subprocess.run([*common, "--write-object", str(key_der), "--type", "privkey", "--label", KEY_LABEL, "--id", "01"],
                   env=env, capture_output=True, check=True)
    subprocess.run([*common, "--write-object", str(cert_der), "--type", "cert", "--label", KEY_LABEL, "--id", "01"],
                   env=env, capture_output=True, check=True)
    (base / "imported").write_text("ok\n")
    logger.info("SoftHSM2 token %s ready in %s", TOKEN_LABEL, tokens)
