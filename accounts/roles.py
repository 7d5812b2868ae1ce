"""Roles a user can hold in a tenant. Lanes in BPMN models name these codes."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    REGISTRAR = "registrar", _("Ufficiale d'anagrafe")
    CIVIL_REGISTRAR = "civil_registrar", _("Ufficiale di stato civile")
    POLICE = "police", _("Polizia municipale")
    SUPERVISOR = "supervisor", _("Responsabile")
    PROCESS_ADMIN = "process_admin", _("Amministratore dei procedimenti")
    VIEWER = "viewer", _("Consultazione")
    CITIZEN = "citizen", _("Cittadino")
    # The supplier's support team: triages and resolves malfunction tickets (issue 12).
    SUPPORT = "support", _("Assistenza del fornitore")


ROLE_CODES = frozenset(Role.values)
# Roles that work in the tenant (not citizens).
STAFF_ROLES = frozenset(ROLE_CODES - {Role.CITIZEN})
# The municipality's own office: they see every case and dossier of the tenant. The supplier's
# support team is staff too but sees only the procedures it serves (SUPPORT_PROCESSES): it is the
# data processor of the tickets (art. 28 GDPR), not of the demographic cases and dossiers.
OFFICE_ROLES = frozenset(STAFF_ROLES - {Role.SUPPORT})
SUPPORT_PROCESSES = frozenset({"malfunction_ticket"})
# Roles allowed to read the audit trail of the tenant.
AUDIT_READER_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN})
# Roles allowed to run the tenant's administration pages (users, incidents).
ADMIN_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN})

# Who may grant which roles in a tenant: the only place this is decided (issue 17, finding 6).
# - The "responsabile" (supervisor) heads the office and manages its staff: they give and take the
#   operational roles. They cannot make another responsabile or a process administrator, or
#   anybody could promote a friend to their own rank and beyond.
# - The process administrator manages procedures (models, templates, incidents), not people: they
#   grant nothing.
# - Responsabili and process administrators are appointed by the municipality (the mayor's or the
#   secretary's act) and entered by the platform's operators (a superuser: the tenant owner),
#   outside the tenant administration pages.
# Nobody adds a role to themselves, and nobody edits a user who holds a role they may not grant.
ROLE_GRANTS: dict[str, frozenset[str]] = {
    # The responsabile also admits the supplier's support team to the tenant (they see its tickets).
    Role.SUPERVISOR: frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.VIEWER, Role.SUPPORT}),
    Role.PROCESS_ADMIN: frozenset(),
}


def roles_grantable_by(held: frozenset[str] | set[str], *, platform_admin: bool = False) -> frozenset[str]:
    """The staff roles a holder of `held` may grant (a platform superuser: every staff role)."""
    if platform_admin:
        return STAFF_ROLES
    granted: set[str] = set()
    for role in held:
        granted |= ROLE_GRANTS.get(role, frozenset())
    return frozenset(granted)
