"""Session-wide: one warm LibreOffice pool and one set of loopback trust services
(TSA, OCSP, CRL); both shut down at the end of the session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from documents import hsm, pki, render, signing
from documents.pki import asn1_cert


@pytest.fixture(scope="session")
def converter():
    pool = render.start_pool(2)
    yield pool
    render.stop_pool()


@pytest.fixture(scope="session")
def trust():
    services = pki.LocalTrustServices().start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def signer_p12(trust, tmp_path_factory) -> Path:
    issued = trust.issue_signer("Laura Verdi - Ufficiale d'anagrafe", org="Comune di Demo")
    path = tmp_path_factory.mktemp("pki") / "signer.p12"
    path.write_bytes(issued.pkcs12("segreta", [trust.ca.cert]))
    return path


@pytest.fixture(scope="session")
def p12_signer(signer_p12):
    return signing.pkcs12_signer(str(signer_p12), "segreta")


@pytest.fixture(scope="session")
def expired_p12(trust, tmp_path_factory) -> Path:
    now = dt.datetime.now(dt.UTC)
    issued = trust.issue_signer("Scaduto", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1))
    path = tmp_path_factory.mktemp("pki") / "expired.p12"
    path.write_bytes(issued.pkcs12("segreta", [trust.ca.cert]))
    return path


@pytest.fixture(scope="session")
def validation_context(trust):
    return signing.validation_context_for([asn1_cert(trust.ca.cert)])


@pytest.fixture(scope="session")
def ca_pem(trust, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pki") / "ca.pem"
    path.write_bytes(trust.ca.cert_pem)
    return path


@pytest.fixture(scope="session")
def softhsm_token():
    """The project-local SoftHSM2 token from scripts/setup.d/documents.sh (created here if missing)."""
    from django.core.management import call_command

    call_command("documents_setup")
    hsm.activate()
    token = signing.pkcs11_signer(lib=hsm.module_path(), token_label=hsm.TOKEN_LABEL, pin=hsm.USER_PIN,
                                  key_label=hsm.KEY_LABEL)
    yield token
    token.close()


@pytest.fixture(scope="session")
def sample_pdf(converter) -> bytes:
    from documents import pipeline, samples

    return pipeline.render_pdf(samples.comunicazione_avvio_docx(), samples.comunicazione_avvio_data(),
                               code="codice-di-prova", signer_name="Laura Verdi", signer_role="Ufficiale d'anagrafe")
