"""Demo tenants and users (demo data only: a production setup has none)."""

from __future__ import annotations

from django.db import transaction

from .models import Membership, Tenant, User
from .roles import Role

DEMO_PASSWORD = "demo"
# Process administrators must use a second factor, in the demo too. Their authenticator key is the
# public RFC 6238 test key (base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ): add it to any TOTP app, or print
# the current code with `manage.py otp_code process_admin.capannori` (demo and test modes only).
DEMO_TOTP_KEY_HEX = "3132333435363738393031323334353637383930"
DEMO_TOTP_SECRET_BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

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
    if role == Role.PROCESS_ADMIN:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice.objects.get_or_create(user=user, confirmed=True,
                                         defaults={"name": "Demo", "key": DEMO_TOTP_KEY_HEX})
    return user
