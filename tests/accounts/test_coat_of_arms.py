"""The municipality's coat of arms: uploaded by its administrators (PNG or JPEG checked by content),
shown in the page header, served publicly, printed on deeds."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.models import Tenant
from accounts.roles import Role
from audit.models import AuditEvent
from tests.factories import make_tenant, make_user, second_factor_client

pytestmark = pytest.mark.django_db


def _image(fmt: str = "PNG", size=(60, 75)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, format=fmt)
    return out.getvalue()


_client = second_factor_client


def test_an_administrator_uploads_the_coat_of_arms_and_every_page_shows_it():
    tenant = make_tenant("Comune di Capannori", istat="046007")
    admin = _client(make_user(tenant, Role.SUPERVISOR))
    before = admin.get("/").content.decode()
    generic = '<img class="icon" src="/static/img/stemma-placeholder.svg"'
    assert generic in before
    response = admin.post("/amministrazione/ente/", {"coat_of_arms": SimpleUploadedFile("stemma.png", _image())},
                          follow=True)
    assert "Stemma aggiornato." in response.content.decode()
    page = admin.get("/").content.decode()
    assert f"/ente/{tenant.pk}/stemma/" in page and generic not in page
    image = Client().get(f"/ente/{tenant.pk}/stemma/")  # public, like the deeds that carry it
    assert image.status_code == 200 and image["Content-Type"] == "image/png" and image.content == _image()
    assert AuditEvent.objects.filter(object_type="tenant", action="update", tenant=tenant).exists()


@pytest.mark.parametrize("name, content, message", [
    ("stemma.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "PNG o JPEG"),
    ("stemma.png", b"\x89PNG\r\n\x1a\nbroken", "danneggiata"),
    ("stemma.png", _image(size=(2500, 10)), "2000 pixel"),
    ("stemma.jpg", b"\xff\xd8\xff" + b"0" * (1024 * 1024 + 1), "1 MB"),
])
def test_a_wrong_image_is_refused_with_a_reason(name, content, message):
    tenant = make_tenant()
    admin = _client(make_user(tenant, Role.PROCESS_ADMIN))
    response = admin.post("/amministrazione/ente/", {"coat_of_arms": SimpleUploadedFile(name, content)})
    assert response.status_code == 400 and message in response.content.decode()
    assert not Tenant.objects.get(pk=tenant.pk).coat_of_arms_mime


def test_only_administrators_change_it_and_a_missing_one_is_404():
    tenant = make_tenant()
    registrar = _client(make_user(tenant, Role.REGISTRAR))
    response = registrar.post("/amministrazione/ente/", {"coat_of_arms": SimpleUploadedFile("s.png", _image())})
    assert response.status_code == 403
    assert Client().get(f"/ente/{tenant.pk}/stemma/").status_code == 404
    assert Client().get("/ente/abc/stemma/").status_code == 404


def test_deeds_carry_the_coat_of_arms(tmp_path):
    from documents import pipeline, samples

    plain = pipeline.render_pdf(samples.comunicazione_avvio_docx(), samples.comunicazione_avvio_data(), code="c1",
                                signer_name="S", signer_role="R")
    arms = pipeline.render_pdf(samples.comunicazione_avvio_docx(), samples.comunicazione_avvio_data(), code="c2",
                               signer_name="S", signer_role="R", coat_of_arms=_image())

    def images(pdf: bytes) -> int:
        path = tmp_path / "x.pdf"
        path.write_bytes(pdf)
        listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
        return len(listing.strip().splitlines()) - 2  # two header lines

    assert images(arms) == images(plain) + 1
