"""SPID fixtures: SP and demo-IdP credentials made once per session under a temporary directory,
settings pointing at them, a municipality, and helpers that walk the real SAML flow with the test client."""

from __future__ import annotations

import base64
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

BASE_URL = "http://testserver"


@pytest.fixture(scope="session")
def spid_credentials(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("identity")


@pytest.fixture(autouse=True)
def _spid_settings(settings, spid_credentials):
    settings.PROCEDO_SPID_BASE_URL = BASE_URL
    settings.PROCEDO_SPID_ENTITY_ID = f"{BASE_URL}/spid/metadata/"
    settings.PROCEDO_SPID_KEY_FILE = str(spid_credentials / "sp.key")
    settings.PROCEDO_SPID_CERT_FILE = str(spid_credentials / "sp.crt")
    settings.PROCEDO_SPID_IDP_METADATA = []
    settings.PROCEDO_SPID_DEMO_IDP = True
    settings.PROCEDO_SPID_TENANT = ""
    return settings


@pytest.fixture
def municipality(db):
    from tests.factories import make_tenant

    return make_tenant("Comune di Roma", istat="058091", belfiore="H501")


@dataclass
class Started:
    """A login started by the browser: its pending-request cookie and the request the demo IdP received."""

    cookie: str
    incoming: object
    sso_query: dict


def start_login(client, *, level: str = "SpidL2", next_url: str = "") -> Started:
    from identity.demo_idp import idp
    from identity.views import PENDING_COOKIE

    params = {"idp": idp.entity_id(), "livello": level}
    if next_url:
        params["next"] = next_url
    response = client.get("/spid/accedi/avvia/", params)
    assert response.status_code == 302, response
    location = response["Location"]
    assert location.startswith(idp.sso_url())
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    incoming = idp.authn_request_read(saml_request=query["SAMLRequest"], relay_state=query.get("RelayState"),
                                      sig_alg=query["SigAlg"], signature=query["Signature"])
    return Started(cookie=response.cookies[PENDING_COOKIE].value, incoming=incoming, sso_query=query)


def demo_identity(fiscal_code: str = "PRVGNN90R10H501Q"):
    from identity.demo_idp import idp

    return next(i for i in idp.IDENTITIES if i.fiscal_code == fiscal_code)


def post_to_acs(client, xml: bytes):
    return client.post("/spid/acs/", {"SAMLResponse": base64.b64encode(xml).decode(), "RelayState": "x"})


def saml_response_from_form(html: str) -> bytes:
    match = re.search(r'name="SAMLResponse" value="([^"]+)"', html)
    assert match, html[:500]
    return base64.b64decode(match.group(1))


def tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)
