"""Production fails closed: without real secrets the process refuses to start, and with the
documented production environment `manage.py check --deploy` has nothing to say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET_KEY = "k7#Qz!v2pL9x@Wm4rT8bN1cY6hJ3fD5sG0aE-uI_oP+eR*tZ%yX"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"PYTEST_VERSION", "PROCEDO_ENV", "DEBUG", "SECRET_KEY", "PROCEDO_SECRETS_KEYS",
                          "ALLOWED_HOSTS", "PROCEDO_DOCUMENTS_SIGNERS", "PROCEDO_CLOCK_OFFSET_SECONDS",
                          "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the e2e conftest sets it for the browser tests
             and not k.startswith("SECURE_") and not k.endswith("_COOKIE_SECURE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def real_signer(tmp_path_factory) -> str:
    from documents.pki import write_demo_pki

    directory = tmp_path_factory.mktemp("pki")
    write_demo_pki(directory, tenants=["comune"], passphrase="una-passphrase-vera")
    return str(directory / "signer-comune.p12")


@pytest.fixture(scope="module")
def production_env(real_signer, tmp_path_factory) -> dict[str, str]:
    """The environment the README documents for production (TLS terminated by a proxy)."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": REAL_SECRET_KEY,
        "PROCEDO_SECRETS_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "procedo.comune.example.it",
        "CSRF_TRUSTED_ORIGINS": "https://procedo.comune.example.it",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "SECURE_HSTS_PRELOAD": "1",
        "PROCEDO_DOCUMENTS_SIGNERS": json.dumps(
            {"default": {"kind": "pkcs12", "path": real_signer, "passphrase": "una-passphrase-vera"}}),
        "PROCEDO_VAR_DIR": str(tmp_path_factory.mktemp("var")),
    }


def test_the_documented_production_environment_starts_and_check_deploy_is_clean(production_env):
    result = _run(production_env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("change", "message"), [
    ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
    ({"SECRET_KEY": "insecure-demo-key-set-SECRET_KEY-in-production"}, "SECRET_KEY is the public demo key"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY is too short"),
    ({"PROCEDO_SECRETS_KEYS": None}, "PROCEDO_SECRETS_KEYS is not set"),
    ({"PROCEDO_SECRETS_KEYS": "not-a-fernet-key"}, "PROCEDO_SECRETS_KEYS key #1"),
    ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is not set"),
    ({"PROCEDO_DOCUMENTS_SIGNERS": None}, "PROCEDO_DOCUMENTS_SIGNERS is not set"),
    ({"PROCEDO_CLOCK_OFFSET_SECONDS": "86400"}, "PROCEDO_CLOCK_OFFSET_SECONDS"),
])
def test_production_refuses_to_start_on_a_missing_or_demo_secret(production_env, change, message):
    env = {k: v for k, v in {**production_env, **change}.items() if v is not None}
    result = _run(env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured: Procedo refuses to start (PROCEDO_ENV=production)" in result.stderr
    assert message in result.stderr


def test_production_refuses_the_demo_signing_key(production_env, tmp_path):
    from documents.pki import write_demo_pki

    var = Path(production_env["PROCEDO_VAR_DIR"])
    write_demo_pki(var / "documents" / "pki", tenants=["demo"])
    demo = str(var / "documents" / "pki" / "signer-demo.p12")
    env = {**production_env,
           "PROCEDO_DOCUMENTS_SIGNERS": json.dumps({"default": {"kind": "pkcs12", "path": demo, "passphrase": "demo"}})}
    result = _run(env, "check")
    assert result.returncode != 0
    assert "is the demo signing key" in result.stderr and "uses the demo passphrase" in result.stderr


def test_demo_and_test_modes_start_without_secrets_and_say_so():
    assert _run({"PROCEDO_ENV": "demo"}, "check").returncode == 0
    assert _run({"PROCEDO_ENV": "test"}, "check").returncode == 0
    refused = _run({"PROCEDO_ENV": "staging"}, "check")
    assert refused.returncode != 0 and "PROCEDO_ENV must be one of" in refused.stderr


def test_connector_credentials_never_use_a_key_derived_from_secret_key_in_production(settings):
    from common import secrets
    from common.errors import ConfigurationError

    settings.PROCEDO_FAIL_CLOSED = True
    settings.PROCEDO_SECRETS_KEYS = ""
    with pytest.raises(ConfigurationError):
        secrets.encrypt_json({"api_key": "x"})
