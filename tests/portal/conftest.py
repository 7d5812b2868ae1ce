"""Fixtures of the citizen area's tests: a municipality with the shipped procedures, a citizen
(Mario Rossi, the standard declarant) and a second citizen, both in the register; the
signer, the converter and the pagoPA, protocol and App IO simulators over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings as django_settings

from accounts.roles import Role
from connectors.base.simulator import SimulatorServer
from registry.certificates import fastpdf
from registry.models import Person
from tests.documents.conftest import converter, signer_p12, trust  # noqa: F401  (session fixtures)
from tests.factories import MARIO_CF

OTHER_CF = "BNCNNA82B41H501X"


@pytest.fixture
def sims(monkeypatch) -> dict[str, Any]:
    """Every connector simulator the portal's flows reach (ANPR and PDND for the residence change's
    registration, SEND for the citizen's notices), fresh, on ephemeral ports, wired through the settings. Values: the WSGI apps."""
    import importlib

    servers, apps = [], {}
    # SEND: the residence change notifies the citizen (notify.citizen: App IO, else SEND) since issue 11
    monkeypatch.setattr(django_settings, "PROCEDO_SEND_SIM_SPEED", 1.0)
    for platform in ("anpr", "pdnd", "appio", "pagopa", "protocollo", "send"):
        app = importlib.import_module(f"connectors.{platform}.simulator").create_app()
        server = SimulatorServer(app).start()
        servers.append(server)
        apps[platform] = app
        apps[f"{platform}_url"] = server.url
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_BASE_URL", server.url)
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "5")
    monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", apps["pdnd_url"] + "/token.oauth2")
    yield apps
    for server in servers:
        server.stop()


@pytest.fixture
def portal_settings(settings, tmp_path, signer_p12, trust, converter):  # noqa: F811
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"default": {"kind": "pkcs12", "path": str(signer_p12), "passphrase": "segreta"}}
    settings.PROCEDO_DOCUMENTS_TSA_URL = ""
    settings.PROCEDO_PUBLIC_BASE_URL = "https://procedo.example"
    fastpdf.forget_bases()
    return settings


@pytest.fixture
def town(make_office) -> dict[str, Any]:
    """Capannori with its staff, two citizens (Mario Rossi and Anna Bianchi) and both in the register."""
    office = make_office(citizen=Role.CITIZEN, other_citizen=Role.CITIZEN,
                         fiscal_codes={"other_citizen": OTHER_CF})
    tenant = office["tenant"]
    for user, (family, given, born) in ((office["citizen"], ("ROSSI", "MARIO", dt.date(1980, 1, 1))),
                                        (office["other_citizen"], ("BIANCHI", "ANNA", dt.date(1982, 2, 1)))):
        user.first_name, user.last_name = given.title(), family.title()
        user.save()
        office[f"{user.username}_person"] = Person.objects.create(
            tenant=tenant, fiscal_code=user.fiscal_code, family_name=family, given_name=given,
            search_name=f"{family} {given}".lower(), sex="M" if given == "MARIO" else "F", birth_date=born,
            citizenships=["100"], birth_place_name="ROMA")
    from registry.models import HouseNumber, Street
    from registry.services import residence_move

    street = Street.objects.create(tenant=tenant, code="V0001", species=213, name="ROMA", search_name="roma")
    civico = HouseNumber.objects.create(tenant=tenant, street=street, code="C1", number=12,
                                        created_on=dt.date(1970, 1, 1))
    for user in (office["citizen"], office["other_citizen"]):
        residence_move(tenant=tenant, actor=None, person_id=office[f"{user.username}_person"].pk,
                       house_number_id=civico.pk, start_date=dt.date(2000, 1, 1), opening_event="registration")
    office["person"] = office[f"{office['citizen'].username}_person"]
    office["other_person"] = office[f"{office['other_citizen'].username}_person"]
    return office


def citizen_client(user, level: str = "SpidL2"):
    """A browser session of a citizen signed in with SPID at `level` (the session identity.services sets)."""
    from django.test import Client

    from identity.services import SESSION_LOA

    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_LOA] = level
    session.save()
    return client


def declaration_for(fiscal_code: str = MARIO_CF) -> dict[str, Any]:
    return {
        "declarants": [{"fiscal_code": fiscal_code, "given_name": "Mario", "family_name": "Rossi"}],
        "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
        "declaration_date": "2026-03-01",
    }


def clean_pdf() -> bytes:
    """A small, valid one-page PDF (what a scanned contract would be, without its weight)."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)])}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
