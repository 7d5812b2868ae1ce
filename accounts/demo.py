"""Demo tenants and users (demo data only: a production setup has none)."""

from __future__ import annotations

from django.db import transaction

from .models import Membership, Tenant, User
from .roles import Role

DEMO_PASSWORD = "demo"

DEMO_TENANTS = [
    # name, slug, ISTAT, Belfiore, patron-saint day (month, day)
    ("Comune di Capannori", "capannori", "046007", "B648", (11, 11)),  # demo value: set the real day per tenant
    ("Comune di Lucca", "lucca", "046017", "E715", (7, 12)),  # San Paolino, 12 July
]
STAFF_ROLES_DEMO = [Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.SUPERVISOR, Role.PROCESS_ADMIN, Role.VIEWER]

DEMO_CITIZENS = [
    # username, given, family, fiscal code, tenant slug
    ("citizen.capannori", "Giovanni", "Prova", "PRVGNN90R10H501Q", "capannori"),
    ("citizen.lucca", "Maria", "Rossi", "RSSMRA80A41E715N", "lucca"),
]

ROLE_LABEL = {
    Role.REGISTRAR: ("Anna", "Anagrafe"),
    Role.CIVIL_REGISTRAR: ("Carlo", "Statocivile"),
    Role.POLICE: ("Paolo", "Vigile"),
    Role.SUPERVISOR: ("Sara", "Responsabile"),
    Role.PROCESS_ADMIN: ("Alba", "Amministratrice"),
    Role.VIEWER: ("Vera", "Consultazione"),
}


@transaction.atomic
def load_demo_accounts() -> dict[str, Tenant]:
    tenants: dict[str, Tenant] = {}
    for name, slug, istat, belfiore, patron in DEMO_TENANTS:
        tenant, _ = Tenant.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name, "istat_code": istat, "belfiore_code": belfiore,
                "patron_month": patron[0], "patron_day": patron[1],
            },
        )
        tenants[slug] = tenant
        for role in STAFF_ROLES_DEMO:
            given, family = ROLE_LABEL[role]
            _user(f"{role}.{slug}", given, family, tenant, role)
    for username, given, family, cf, slug in DEMO_CITIZENS:
        _user(username, given, family, tenants[slug], Role.CITIZEN, fiscal_code=cf)
    # A supervisor of both municipalities (shared back office): shows the tenant switcher.
    _user("supervisor.unione", "Ugo", "Unione", tenants["capannori"], Role.SUPERVISOR)
    _user("supervisor.unione", "Ugo", "Unione", tenants["lucca"], Role.SUPERVISOR)
    return tenants


def _user(username: str, given: str, family: str, tenant: Tenant, role: str, fiscal_code: str = "") -> User:
    user, created = User.objects.get_or_create(
        username=username, defaults={"first_name": given, "last_name": family, "fiscal_code": fiscal_code}
    )
    if created or not user.has_usable_password():
        user.set_password(DEMO_PASSWORD)
        user.save()
    Membership.objects.get_or_create(user=user, tenant=tenant, role=role)
    return user
