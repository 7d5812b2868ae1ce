"""Fail closed: a production process refuses to start on demo secrets.

`config/settings.py` calls `production_problems()` when PROCEDO_ENV is "production" (the default
outside the test suite) and DEBUG is off, and raises ImproperlyConfigured listing every problem at
once, so an operator fixes the environment in one go instead of discovering a public key later.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

DEMO_SECRET_KEY = "insecure-demo-key-set-SECRET_KEY-in-production"
DEMO_SIGNER_PASSPHRASE = "demo"
ENVIRONMENTS = ("production", "demo", "test")


def fernet_key_problem(key: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        return "is not urlsafe base64"
    return None if len(raw) == 32 else "does not decode to 32 bytes"


def secrets_keys_problems(keys: str) -> list[str]:
    problems = []
    for index, key in enumerate(k.strip() for k in keys.split(",")):
        if not key:
            continue
        problem = fernet_key_problem(key)
        if problem:
            problems.append(f"PROCEDO_SECRETS_KEYS key #{index + 1} {problem} (make one with "
                            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)")
    return problems


def production_problems(*, secret_key: str, secrets_keys: str, allowed_hosts_set: bool,
                        signers: Any, demo_pki_dir: Path) -> list[str]:
    problems: list[str] = []
    if not secret_key:
        problems.append("SECRET_KEY is not set")
    elif secret_key == DEMO_SECRET_KEY or secret_key.startswith("django-insecure"):
        problems.append("SECRET_KEY is the public demo key")
    elif len(secret_key) < 50 or len(set(secret_key)) < 5:
        problems.append("SECRET_KEY is too short (at least 50 random characters)")
    if not secrets_keys.strip():
        problems.append("PROCEDO_SECRETS_KEYS is not set (Fernet keys encrypting connector credentials; "
                        "without it they would be derived from SECRET_KEY)")
    else:
        problems.extend(secrets_keys_problems(secrets_keys))
    if not allowed_hosts_set:
        problems.append("ALLOWED_HOSTS is not set (the host names this deployment answers on)")
    problems.extend(signer_problems(signers, demo_pki_dir))
    return problems


def signer_problems(signers: Any, demo_pki_dir: Path) -> list[str]:
    if not signers:
        return ["PROCEDO_DOCUMENTS_SIGNERS is not set: deeds would be signed with the demo certificate "
                '(JSON: {"default": {"kind": "pkcs12", "path": "/etc/procedo/signer.p12", "passphrase": "..."}})']
    if not isinstance(signers, dict):
        return ["PROCEDO_DOCUMENTS_SIGNERS must be a JSON object {role: {kind, path, passphrase}}"]
    problems = []
    demo_dir = demo_pki_dir.resolve()
    for role, entry in signers.items():
        if not isinstance(entry, dict) or not entry.get("path"):
            problems.append(f"PROCEDO_DOCUMENTS_SIGNERS[{role!r}] needs a path")
            continue
        path = Path(str(entry["path"])).resolve()
        if path.is_relative_to(demo_dir) or path.name.startswith("signer-demo"):
            problems.append(f"PROCEDO_DOCUMENTS_SIGNERS[{role!r}] is the demo signing key ({path})")
        elif not path.is_file():
            problems.append(f"PROCEDO_DOCUMENTS_SIGNERS[{role!r}]: no file at {path}")
        if entry.get("passphrase", "") == DEMO_SIGNER_PASSPHRASE:
            problems.append(f"PROCEDO_DOCUMENTS_SIGNERS[{role!r}] uses the demo passphrase")
    return problems
