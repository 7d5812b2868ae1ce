"""Fixtures of the notice-board tests: two municipalities with their office staff, a signer and
a PDF to publish. The converter and the loopback trust services are the documents tests' own."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter

from accounts.roles import Role
from tests.documents.conftest import converter, signer_p12, trust  # noqa: F401 - shared session fixtures
from tests.factories import make_tenant, make_user


def blank_pdf() -> bytes:
    writer = PdfFileWriter()
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
    }))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def nb_settings(settings, tmp_path, signer_p12):  # noqa: F811
    settings.PROCEDO_DOCUMENTS_ROOT = str(tmp_path / "blobs")
    settings.PROCEDO_DOCUMENTS_SIGNERS = {"default": {"kind": "pkcs12", "path": str(signer_p12),
                                                      "passphrase": "segreta"}}
    settings.PROCEDO_DOCUMENTS_TSA_URL = ""
    settings.PROCEDO_NOTICEBOARD_ARCHIVE_DAYS = 30
    return settings


@pytest.fixture
def board(nb_settings):
    a = make_tenant("Comune di Lucca")
    b = make_tenant("Comune di Pisa")
    return {
        "a": a, "b": b,
        "registrar": make_user(a, Role.CIVIL_REGISTRAR),
        "supervisor": make_user(a, Role.SUPERVISOR),
        "viewer": make_user(a, Role.VIEWER),
        "b_registrar": make_user(b, Role.CIVIL_REGISTRAR),
    }


@pytest.fixture
def signed_document(board):
    """A signed PDF of tenant A ready to publish (uploaded and sealed by the office)."""
    from noticeboard.services import publication_document_upload

    def make(tenant=None, user=None):
        return publication_document_upload(tenant=tenant or board["a"], actor=user or board["registrar"],
                                           data=blank_pdf(), filename="atto.pdf")

    return make
