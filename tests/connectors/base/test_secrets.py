"""Connector credentials are encrypted at rest, survive key rotation and never show in the admin."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from common import secrets
from common.errors import ConfigurationError
from connectors.base import config
from connectors.models import ConnectorConfig
from tests.factories import login_with_second_factor, make_tenant

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-parer-password"


def _raw(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connectorconfig WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_credentials_are_stored_encrypted_and_read_back_plain():
    tenant = make_tenant()
    row = ConnectorConfig.objects.create(tenant=tenant, platform="parer", credentials={"password": SECRET})
    raw = _raw(row.pk)
    assert raw.startswith("fernet:") and SECRET not in raw
    assert ConnectorConfig.objects.get(pk=row.pk).credentials == {"password": SECRET}
    assert config.credentials("parer", tenant)["password"] == SECRET


def test_a_rotated_key_still_reads_old_rows_and_rewrites_them_with_the_new_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PROCEDO_SECRETS_KEYS = old
    row = ConnectorConfig.objects.create(tenant=make_tenant(), platform="appio", credentials={"api_key": SECRET})
    settings.PROCEDO_SECRETS_KEYS = f"{new},{old}"
    again = ConnectorConfig.objects.get(pk=row.pk)
    assert again.credentials == {"api_key": SECRET}
    again.save()
    settings.PROCEDO_SECRETS_KEYS = new  # the old key retired: the row was re-encrypted
    assert ConnectorConfig.objects.get(pk=row.pk).credentials == {"api_key": SECRET}


def test_a_lost_key_gives_a_clear_error_not_garbage(settings):
    settings.PROCEDO_SECRETS_KEYS = Fernet.generate_key().decode()
    row = ConnectorConfig.objects.create(tenant=make_tenant(), platform="send", credentials={"api_key": SECRET})
    settings.PROCEDO_SECRETS_KEYS = Fernet.generate_key().decode()
    with pytest.raises(ConfigurationError) as info:
        ConnectorConfig.objects.get(pk=row.pk)
    assert "PROCEDO_SECRETS_KEYS" in str(info.value)


def test_rows_written_before_encryption_are_still_readable():
    assert secrets.decrypt_json('{"api_key": "legacy"}') == {"api_key": "legacy"}


def test_the_admin_never_shows_credentials_and_keeps_them_when_left_blank(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root-admin", "r@example.org", "pw-admin-123")
    login_with_second_factor(client, admin_user)  # superusers work only with a verified second factor
    tenant = make_tenant()
    row = ConnectorConfig.objects.create(tenant=tenant, platform="parer", credentials={"password": SECRET})
    page = client.get(f"/admin/connectors/connectorconfig/{row.pk}/change/")
    assert page.status_code == 200 and SECRET not in page.content.decode()
    assert "password" in page.content.decode()  # the field names are listed
    response = client.post(f"/admin/connectors/connectorconfig/{row.pk}/change/", {
        "tenant": tenant.pk, "platform": "parer", "base_url": "", "settings": "{}", "is_active": "on",
        "new_credentials": "",
    })
    assert response.status_code == 302
    assert ConnectorConfig.objects.get(pk=row.pk).credentials == {"password": SECRET}
    bad = client.post(f"/admin/connectors/connectorconfig/{row.pk}/change/", {
        "tenant": tenant.pk, "platform": "parer", "settings": "{}", "new_credentials": "{not json",
    })
    assert bad.status_code == 200 and "Non è un JSON valido" in bad.content.decode()
