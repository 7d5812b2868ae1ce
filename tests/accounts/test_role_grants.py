"""Who may grant which role (accounts.roles.ROLE_GRANTS; issue 17, finding 6): the attacks of a
process admin who promotes themselves and of a supervisor who makes colleagues of their own rank."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditEvent
from common.errors import PermissionRefused, ValidationFailed
from tests.factories import second_factor_client

pytestmark = pytest.mark.django_db
VALID_CF = "RSSMRA80A01H501U"


@pytest.fixture
def office(make_office):
    return make_office(supervisor2=Role.SUPERVISOR)  # a colleague of the supervisor's own rank


_client = second_factor_client


def _roles(tenant, user) -> set[str]:
    return set(Membership.objects.filter(tenant=tenant, user=user).values_list("role", flat=True))


def _role_events(tenant, user) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant=tenant, object_type="user", object_id=str(user.pk),
                                          action="update"))


@pytest.mark.parametrize("wanted", [["process_admin", "supervisor"], ["process_admin", "registrar"],
                                    ["process_admin", "viewer"]])
def test_a_process_admin_cannot_grant_themselves_any_role(office, wanted):
    me, tenant = office["admin"], office["tenant"]
    response = _client(me).post(f"/amministrazione/utenti/{me.pk}/ruoli/", {"roles": wanted}, follow=True)
    assert "Non puoi aggiungere ruoli a te stesso" in response.content.decode()
    assert _roles(tenant, me) == {"process_admin"} and not _role_events(tenant, me)
    with pytest.raises(PermissionRefused) as refused:
        services.tenant_user_set_roles(tenant=tenant, actor=me, user_id=me.pk, roles=wanted)
    assert refused.value.code == "self_grant" and _roles(tenant, me) == {"process_admin"}


def test_a_process_admin_manages_procedures_not_people(office):
    admin, tenant, target = office["admin"], office["tenant"], office["registrar"]
    client = _client(admin)
    response = client.post(f"/amministrazione/utenti/{target.pk}/ruoli/", {"roles": ["supervisor"]}, follow=True)
    assert "ruoli che non puoi gestire" in response.content.decode()
    assert _roles(tenant, target) == {"registrar"}
    assert client.post("/amministrazione/utenti/nuovo/", {
        "username": "complice", "first_name": "C", "last_name": "P", "fiscal_code": VALID_CF, "roles": ["supervisor"],
    }).status_code == 403
    assert not User.objects.filter(username="complice").exists()
    client.post(f"/amministrazione/utenti/{target.pk}/accesso/", {"active": "0"})
    assert Membership.objects.get(user=target).is_active


def test_a_supervisor_creates_registrars_but_not_supervisors_or_admins(office):
    client, tenant = _client(office["supervisor"]), office["tenant"]
    form = {"username": "capo2", "first_name": "C", "last_name": "D", "fiscal_code": VALID_CF}
    for role in ("supervisor", "process_admin"):
        page = client.post("/amministrazione/utenti/nuovo/", {**form, "roles": ["registrar", role]}).content.decode()
        assert "Non puoi assegnare questi ruoli" in page
        assert not User.objects.filter(username="capo2").exists()
    with pytest.raises(ValidationFailed) as refused:
        services.tenant_user_create(tenant=tenant, actor=office["supervisor"], username="capo2", first_name="C",
                                    last_name="D", email="", fiscal_code=VALID_CF, roles=["supervisor"])
    assert "roles" in refused.value.details
    response = client.post("/amministrazione/utenti/nuovo/", {**form, "username": "ufficiale", "roles": ["registrar"]})
    user = User.objects.get(username="ufficiale")
    assert response.status_code == 302 and _roles(tenant, user) == {"registrar"}
    created = AuditEvent.objects.get(tenant=tenant, object_type="user", object_id=str(user.pk), action="create")
    assert created.before == {"roles": []} and created.after["roles"] == ["registrar"]


def test_a_supervisor_cannot_promote_a_registrar_nor_touch_another_supervisor(office):
    client, tenant = _client(office["supervisor"]), office["tenant"]
    registrar, peer = office["registrar"], office["supervisor2"]
    response = client.post(f"/amministrazione/utenti/{registrar.pk}/ruoli/", {"roles": ["registrar", "supervisor"]},
                           follow=True)
    assert "Non puoi assegnare questi ruoli: Responsabile" in response.content.decode()
    assert _roles(tenant, registrar) == {"registrar"} and not _role_events(tenant, registrar)
    # a peer of the same rank: no role change, no suspension, no password reset
    client.post(f"/amministrazione/utenti/{peer.pk}/ruoli/", {"roles": ["viewer"]})
    client.post(f"/amministrazione/utenti/{peer.pk}/accesso/", {"active": "0"})
    response = client.post(f"/amministrazione/utenti/{peer.pk}/password/", follow=True)
    assert "ruoli che non puoi gestire" in response.content.decode()
    peer.refresh_from_db()
    assert _roles(tenant, peer) == {"supervisor"} and Membership.objects.get(user=peer).is_active
    assert peer.check_password("pw-test-123") and not _role_events(tenant, peer)


def test_every_grant_and_revoke_is_audited_with_before_and_after(office):
    client, tenant, target = _client(office["supervisor"]), office["tenant"], office["registrar"]
    client.post(f"/amministrazione/utenti/{target.pk}/ruoli/", {"roles": ["registrar", "police"]})
    client.post(f"/amministrazione/utenti/{target.pk}/ruoli/", {"roles": ["police"]})
    assert [(e.before, e.after, e.actor_username) for e in _role_events(tenant, target)] == [
        ({"roles": ["registrar"]}, {"roles": ["police", "registrar"]}, office["supervisor"].username),
        ({"roles": ["police", "registrar"]}, {"roles": ["police"]}, office["supervisor"].username),
    ]


def test_the_pages_offer_only_the_roles_the_actor_may_grant(office):
    client = _client(office["supervisor"])
    new = client.get("/amministrazione/utenti/nuovo/").content.decode()
    detail = client.get(f"/amministrazione/utenti/{office['registrar'].pk}/").content.decode()
    for page in (new, detail):
        assert 'value="registrar"' in page and 'value="police"' in page and 'value="viewer"' in page
        assert 'value="supervisor"' not in page and 'value="process_admin"' not in page
    own = client.get(f"/amministrazione/utenti/{office['supervisor'].pk}/").content.decode()
    assert 'name="roles" value="registrar"' not in own  # nothing to add to oneself
    peer = client.get(f"/amministrazione/utenti/{office['supervisor2'].pk}/").content.decode()
    assert "Salva i ruoli" not in peer and "Sospendi l'accesso" not in peer
    assert "Nuovo utente" not in _client(office["admin"]).get("/amministrazione/utenti/").content.decode()


def test_the_platform_superuser_appoints_supervisors_and_admins(office):
    owner = User.objects.create_superuser(username="piattaforma", password="pw-test-123")
    services.tenant_user_set_roles(tenant=office["tenant"], actor=owner, user_id=office["registrar"].pk,
                                   roles=["supervisor", "process_admin"])
    assert _roles(office["tenant"], office["registrar"]) == {"supervisor", "process_admin"}
