"""Runtime data ships inside the project: the official XSD/OpenAPI files the connectors validate
against are copies listed in a README next to them, equal to the official files, and no product
code reads the collection of specifications (`PROCEDO_SPECS_DIR`, `../shared/specs`) at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from connectors.anpr import soap
from connectors.anpr.services import ESERVICES
from connectors.appio.client import SPEC as APPIO_SPEC
from connectors.base.specs import ROOT, spec_path
from connectors.pagopa.client import SPEC as PAGOPA_SPEC
from connectors.parer.client import REQUEST_XSD, RESPONSE_XSD
from connectors.pdnd.voucher import SPEC as PDND_SPEC
from connectors.protocollo.segnatura import XSD as SEGNATURA_XSD
from connectors.send.client import SPEC as SEND_SPEC

PROJECT = Path(settings.BASE_DIR).resolve()
DATA_FOLDERS = sorted(p for p in ROOT.glob("*/*") if p.is_dir() and p.name in ("schemas", "openapi"))
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| `(?P<official>[^`]+)` \|")
# Only tests and benchmarks may use the collection of official specifications.
NOT_PRODUCT = {"tests", "bench", ".venv", "node_modules", ".git", "var", "frontend"}


def _listed(folder: Path) -> dict[str, str]:
    rows = (ROW.match(line) for line in (folder / "README.md").read_text(encoding="utf-8").splitlines())
    return {m["file"]: m["official"] for m in rows if m}


def test_every_spec_the_connectors_use_is_a_shipped_file():
    used = {APPIO_SPEC, PAGOPA_SPEC, SEND_SPEC, PDND_SPEC, REQUEST_XSD, RESPONSE_XSD, SEGNATURA_XSD,
            *(s.xsd for s in soap.SERVICES.values()), *(e.spec for e in ESERVICES.values())}
    for relpath in used:
        path = spec_path(relpath)
        assert path.is_file() and path.is_relative_to(PROJECT), relpath


def test_a_spec_name_cannot_leave_the_connectors_package():
    with pytest.raises(ValueError):
        spec_path("../../shared/specs/appio/index.yaml")


@pytest.mark.parametrize("folder", DATA_FOLDERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_shipped_file_is_listed_with_its_source_and_equals_the_official_one(folder):
    listed = _listed(folder)
    shipped = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "README.md"}
    assert shipped and set(listed) == shipped
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "https://github.com/" in readme and "licen" in readme.lower()
    official = Path(settings.PROCEDO_SPECS_DIR)
    for name, official_name in listed.items():
        assert (folder / name).read_bytes() == (official / official_name).read_bytes(), name


def test_no_product_code_reads_the_collection_of_specifications():
    offenders = []
    pattern = re.compile(r"PROCEDO_SPECS_DIR|shared[/\"', ]+specs|specs_dir\(")
    for path in PROJECT.rglob("*"):
        rel = path.relative_to(PROJECT)
        if rel.parts[0] in NOT_PRODUCT or path.suffix not in (".py", ".sh", ".toml", ".cfg", ".ini", ".yml",
                                                              ".yaml", ".json", ".html", ".js") \
                or not path.is_file() or "__pycache__" in rel.parts:
            continue
        if rel.parts[0] == "config" and rel.name == "settings.py":
            continue  # declares PROCEDO_SPECS_DIR for the tests; nothing in the product reads it
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []


def test_validation_works_on_a_machine_without_the_specs_collection(settings, tmp_path, monkeypatch):
    from connectors.base import openapi, xml
    from connectors.base.errors import InvalidRequest

    settings.PROCEDO_SPECS_DIR = tmp_path  # empty: nothing may be read from it
    openapi.load_spec.cache_clear()
    openapi.validator_for.cache_clear()
    monkeypatch.setattr(xml, "_schemas", {})
    with pytest.raises(InvalidRequest):
        openapi.check_request(APPIO_SPEC, "post", "/profiles", {"fiscal_code": 42})
    openapi.check_request(APPIO_SPEC, "post", "/profiles", {"fiscal_code": "RSSMRA80A01H501U"})
    for relpath in (REQUEST_XSD, RESPONSE_XSD, SEGNATURA_XSD, *(s.xsd for s in soap.SERVICES.values())):
        assert xml.load_schema(spec_path(relpath)) is not None
    assert list(tmp_path.iterdir()) == []
