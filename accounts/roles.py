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


ROLE_CODES = frozenset(Role.values)
# Roles that may see every case of the tenant (not only their own tasks).
STAFF_ROLES = frozenset(ROLE_CODES - {Role.CITIZEN})
# Roles allowed to read the audit trail of the tenant.
AUDIT_READER_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN})
# Roles allowed to run the tenant's administration pages (users, incidents).
ADMIN_ROLES = frozenset({Role.SUPERVISOR, Role.PROCESS_ADMIN})
