"""Conformance gate: AgID's spid-sp-test against the running app (metadata, AuthnRequest, and its 111
crafted IdP responses posted to our ACS: every valid one accepted, every invalid one refused).

spid-sp-test lives in its own virtualenv (var/tools/spid-sp-test, made by scripts/setup.d/identity.sh,
which `make test` runs): its dependency spid_compliant_certificates pins packaging==21.2, which would
break pytest in the product's venv. It takes about a minute."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings as django_settings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _tool() -> str:
    found = shutil.which("spid_sp_test")
    local = Path(django_settings.BASE_DIR) / "var" / "tools" / "spid-sp-test" / "bin" / "spid_sp_test"
    if found:
        return found
    if local.exists():
        return str(local)
    pytest.fail("spid-sp-test is not installed: run `make system` (scripts/setup.d/identity.sh)")


def _run(args: list[str], tmp_path: Path, name: str) -> dict:
    report = tmp_path / f"{name}.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([_tool(), *args, "-rf", "json", "-o", str(report)], capture_output=True, text=True,
                          timeout=900, env=env)
    summary = re.search(r"executed (\d+) tests, (\d+) failed", done.stdout + done.stderr)
    assert summary, (done.stdout + done.stderr)[-3000:]
    failures = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith(("ERROR", "CRITICAL"))]
    assert done.returncode == 0 and summary.group(2) == "0", "\n".join(failures)[-5000:]
    return json.loads(report.read_text())


def _sections(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for kind, checks in report["test"]["sp"].items():
        for results in checks.values():
            out.setdefault(kind, []).extend(results)
    return out


def _serve(live_server, settings, tmp_path, scheme: str) -> tuple[str, str]:
    """Point the SP at the live server and trust spid-sp-test's IdP as a `scheme` IdP."""
    from tests.factories import make_tenant

    make_tenant("Comune di Roma", istat="058091", belfiore="H501")
    idp_metadata = tmp_path / "spid-sp-test-idp.xml"
    idp_metadata.write_bytes(subprocess.run([_tool(), "--idp-metadata"], capture_output=True, check=True,
                                            timeout=120).stdout)
    base = live_server.url
    settings.PROCEDO_SPID_BASE_URL = base
    settings.PROCEDO_SPID_ENTITY_ID = f"{base}/spid/metadata/"
    settings.PROCEDO_SPID_IDP_METADATA = [f"{scheme}={idp_metadata}"]
    return base, f"{base}/spid/accedi/avvia/?" + urllib.parse.urlencode({"idp": "https://localhost:8443"})


def test_spid_sp_test_passes_metadata_request_and_every_response(live_server, settings, tmp_path):
    base, authn_url = _serve(live_server, settings, tmp_path, "spid")

    report = _run(["--metadata-url", f"{base}/spid/metadata/", "--authn-url", authn_url, "--profile",
                   "spid-sp-public", "--extra", "-tr"], tmp_path, "spid")

    sections = _sections(report)
    responses = sections["response"]
    assert len(responses) >= 100  # 111 in spid-sp-test 1.2.18
    assert all(r["result"] == "success" for r in responses)
    assert len(sections["metadata_extra"]) >= 100 and len(sections["authnrequest_extra"]) >= 40


def test_the_eidas_metadata_passes_the_ficep_profile(live_server, settings, tmp_path):
    base, _authn_url = _serve(live_server, settings, tmp_path, "eidas")
    report = _run(["--metadata-url", f"{base}/spid/metadata/", "--profile", "ficep-eidas-sp"], tmp_path, "eidas")
    assert sum(len(v) for v in _sections(report).values()) >= 50


def test_spid_sp_test_passes_the_cie_profile_with_every_response(live_server, settings, tmp_path):
    base, authn_url = _serve(live_server, settings, tmp_path, "cie")

    report = _run(["--metadata-url", f"{base}/cie/metadata/", "--authn-url", authn_url, "--profile",
                   "cie-sp-public", "--extra", "-tr"], tmp_path, "cie")

    responses = _sections(report)["response"]
    assert len(responses) >= 100  # 109: the SPID set without the two tests on the Assertion Issuer's Format
    assert all(r["result"] == "success" for r in responses)
