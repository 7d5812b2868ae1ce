"""Bundle export/import: a round trip gives back the same files; hostile archives (path traversal,
absolute names, symbolic links, zip bombs, oversized or too many entries, encrypted or broken
archives, unknown file types) are refused with a clear message and nothing is stored."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from common.errors import ValidationFailed
from engine.selectors import process_latest_version
from studio.bundle_zip import export_zip, import_zip
from studio.models import Draft
from tests.factories import second_factor_client

pytestmark = [pytest.mark.django_db]


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()  # type: ignore[return-value]


def _encrypted_zip() -> bytes:
    """An archive whose second entry says it is encrypted (flag bit 0 in both of its headers)."""
    data = bytearray(_zip([GOOD, ("residence_change/forms/a.json", b"{}")]))
    local = data.index(b"PK\x03\x04", 1)
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    return bytes(data)


GOOD = ("residence_change/residence_change.bpmn", b"<x/>")


@pytest.mark.parametrize("entries,code", [
    ([GOOD, ("residence_change/../../etc/cron.d/evil.yaml", b"x")], "path_not_allowed"),
    ([("../evil.json", b"{}")], "path_not_allowed"),
    ([("/etc/evil.json", b"{}")], "path_not_allowed"),
    ([("forms\\..\\..\\evil.json", b"{}")], "path_not_allowed"),
    ([GOOD, ("residence_change/run.py", b"import os")], "extension_not_allowed"),
    ([GOOD, _symlink("residence_change/forms/a.json", "/etc/passwd")], "zip_symlink"),
    ([GOOD, ("residence_change/forms/bomb.json", b"0" * 30_000_000)], "zip_ratio"),
    ([GOOD, ("residence_change/forms/big.json", os.urandom(800_000).hex().encode())], "zip_entry_too_large"),
    ([(f"f{i}.json", b"{}") for i in range(400)], "zip_too_many_entries"),
    ([GOOD, ("residence_change/forms/a.json", b"\xff\xfe")], "zip_not_utf8"),
    ([GOOD, ("residence_change/forms/a.json", b"{}"), ("residence_change/forms/a.json", b"{}")], "zip_duplicate"),
    ([], "zip_empty"),
])
def test_hostile_archives_are_refused(entries, code):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        data = _zip(entries)
    with pytest.raises(ValidationFailed) as refused:
        import_zip(data)
    assert refused.value.code == code
    assert refused.value.message


def test_an_encrypted_entry_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        import_zip(_encrypted_zip())
    assert refused.value.code == "zip_encrypted"


def test_not_a_zip_and_too_large_an_upload():
    with pytest.raises(ValidationFailed) as refused:
        import_zip(b"PK\x03\x04 not really")
    assert refused.value.code == "zip_invalid"
    with pytest.raises(ValidationFailed) as refused:
        import_zip(b"0" * 10_000_001)
    assert refused.value.code == "zip_too_large"


@pytest.mark.postgres
def test_export_then_import_gives_back_the_same_bundle_as_a_new_draft(capannori):
    version = process_latest_version(process_id="residence_change")
    data = export_zip("residence_change", version.files)
    top, files = import_zip(data)
    assert top == "residence_change" and files == version.files  # DOCX deeds included, byte for byte

    client = second_factor_client(capannori["admin"])
    exported = client.get(f"/studio/versioni/{version.pk}/esporta/")
    assert exported.status_code == 200 and exported["Content-Type"] == "application/zip"
    upload = io.BytesIO(exported.content)
    upload.name = "residence_change.zip"
    response = client.post("/studio/importa/", {"file": upload})
    draft = Draft.objects.get(tenant=capannori["tenant"])
    assert response.status_code == 302 and response["Location"] == f"/studio/bozze/{draft.pk}/"
    assert draft.files == version.files and draft.process_id == "residence_change"
    page = client.get(f"/studio/bozze/{draft.pk}/").content.decode()
    assert "Nessun problema" in page


@pytest.mark.postgres
def test_a_hostile_upload_through_the_page_stores_nothing(capannori):
    client = second_factor_client(capannori["admin"])
    upload = io.BytesIO(_zip([GOOD, ("residence_change/../../x.json", b"{}")]))
    upload.name = "evil.zip"
    response = client.post("/studio/importa/", {"file": upload}, follow=True)
    assert "Nome di file non ammesso" in response.content.decode()
    assert not Draft.objects.exists()


@pytest.mark.postgres
def test_an_archive_of_an_unknown_procedure_is_refused(capannori):
    with pytest.raises(ValidationFailed) as refused:
        from studio import services

        services.draft_import(tenant=capannori["tenant"], actor=capannori["admin"],
                              data=_zip([("nuovo/nuovo.bpmn", b"<x/>")]))
    assert refused.value.code == "zip_unknown_process"
