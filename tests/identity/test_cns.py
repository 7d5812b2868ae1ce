"""CNS: a smart-card client certificate verified by the reverse proxy signs the citizen in, but only when
the headers come from the configured proxy and say the certificate was verified."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from accounts.models import User
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"


def _cns_cert(cn: str = "PRVGNN90R10H501Q/7420000100012345.abcdef", days: int = 30) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.GIVEN_NAME, "Giovanni"),
                      x509.NameAttribute(NameOID.SURNAME, "Prova"), x509.NameAttribute(NameOID.COUNTRY_NAME, "IT")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    return urllib.parse.quote(cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.fixture
def cns_on(settings):
    settings.PROCEDO_CNS_PROXY_ADDRESSES = [PROXY]
    return settings


def _get(client, *, remote=PROXY, verify="SUCCESS", cert=None):
    headers = {"REMOTE_ADDR": remote, "HTTP_X_SSL_CLIENT_VERIFY": verify}
    if cert is not None:
        headers["HTTP_X_SSL_CLIENT_CERT"] = cert
    return client.get("/cns/accedi/", **headers)


def test_a_verified_cns_certificate_from_the_proxy_signs_the_citizen_in(client, municipality, cns_on):
    response = _get(client, cert=_cns_cert())
    assert response.status_code == 302 and response["Location"] == "/spid/benvenuto/"
    user = User.objects.get(username="cf:PRVGNN90R10H501Q")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.session["identity_scheme"] == "cns"
    assert AuditEvent.objects.filter(action="login", object_type="identity", actor=user, extra__scheme="cns").exists()


@pytest.mark.parametrize("case", ["not_from_the_proxy", "not_verified", "no_certificate", "no_fiscal_code", "expired"])
def test_cns_headers_are_not_believed_unless_the_proxy_verified_them(client, municipality, cns_on, case):
    kwargs = {
        "not_from_the_proxy": {"remote": "203.0.113.9", "cert": _cns_cert()},
        "not_verified": {"verify": "FAILED:certificate has expired", "cert": _cns_cert()},
        "no_certificate": {},
        "no_fiscal_code": {"cert": _cns_cert(cn="Giovanni Prova")},
        "expired": {"cert": _cns_cert(days=-1)},
    }[case]
    response = _get(client, **kwargs)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_cns_login_does_not_exist_without_a_configured_proxy(client, municipality):
    assert _get(client, cert=_cns_cert()).status_code == 404
