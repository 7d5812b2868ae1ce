from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import Role


class Tenant(models.Model):
    """A municipality (Ente). Every domain row belongs to one."""

    name = models.CharField(_("nome"), max_length=200)
    slug = models.SlugField(unique=True)
    istat_code = models.CharField(_("codice ISTAT"), max_length=6, unique=True)
    belfiore_code = models.CharField(_("codice Belfiore"), max_length=4, unique=True)
    # Patron-saint day: not a working day in this municipality (month, day).
    patron_month = models.PositiveSmallIntegerField(_("mese del santo patrono"), null=True, blank=True)
    patron_day = models.PositiveSmallIntegerField(_("giorno del santo patrono"), null=True, blank=True)
    # Weekdays on which the office works (0 = Monday ... 6 = Sunday): working days for every term
    # and deadline (engine.script_helpers.WorkCalendar). Some offices also open on Saturday.
    working_weekdays = models.CharField(
        _("giorni lavorativi della settimana"), max_length=7, default="01234", blank=True,
        validators=[RegexValidator(r"^(?!.*(.).*\1)[0-6]{1,7}$", _("Indica da 1 a 7 giorni distinti, da 0 (lunedì) a 6 (domenica)."))],
        help_text=_("Cifre da 0 (lunedì) a 6 (domenica): 01234 = da lunedì a venerdì, 012345 = anche il sabato; "
                    "vuoto = da lunedì a venerdì."),
    )
    is_active = models.BooleanField(default=True)
    # Coat of arms (stemma): PNG or JPEG checked by content, shown in the header and on deeds.
    coat_of_arms = models.BinaryField(_("stemma"), blank=True, default=b"", editable=False)
    coat_of_arms_mime = models.CharField(max_length=20, blank=True, editable=False)
    coat_of_arms_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("ente")
        verbose_name_plural = _("enti")

    def __str__(self) -> str:
        return self.name

    @property
    def patron_day_tuple(self) -> tuple[int, int] | None:
        if self.patron_month and self.patron_day:
            return (self.patron_month, self.patron_day)
        return None

    @property
    def work_calendar(self):
        """The tenant's day-counting rule: working weekdays, national holidays, patron day."""
        from engine.script_helpers import DEFAULT_WEEKDAYS, WorkCalendar

        weekdays = frozenset(int(c) for c in (self.working_weekdays or "") if c in "0123456") or DEFAULT_WEEKDAYS
        return WorkCalendar(patron_day=self.patron_day_tuple, weekdays=weekdays)

    def patron_date(self, year: int) -> dt.date | None:
        pd = self.patron_day_tuple
        return dt.date(year, pd[0], pd[1]) if pd else None


class User(AbstractUser):
    fiscal_code = models.CharField(_("codice fiscale"), max_length=16, blank=True, db_index=True)
    # Set when an administrator gives the user a one-time password: the next page asks for a new one.
    must_change_password = models.BooleanField(_("deve cambiare la password"), default=False)

    class Meta:
        verbose_name = _("utente")
        verbose_name_plural = _("utenti")


class Membership(models.Model):
    """A user holds a role in a tenant; one row per (user, tenant, role)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    # A suspended membership keeps its roles for when it is reactivated, but grants nothing.
    is_active = models.BooleanField(_("attiva"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant", "role"], name="membership_unique_role"),
        ]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant}: {self.role}"


class TenantScopedQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | int):
        tenant_id = tenant if isinstance(tenant, int) else tenant.pk
        return self.filter(tenant_id=tenant_id)


class TenantScopedModel(models.Model):
    """Base for every domain row: it carries its tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class IdempotencyRecord(models.Model):
    """A mutating API call made with an `Idempotency-Key` header (accounts/idempotency.py): what was asked
    (a fingerprint of method, path and body) and the answer it got. Written in the same transaction as the
    call's own changes, so it exists exactly when they were committed: a retry after a commit gets this
    answer again, a retry after a rollback runs the call again. A key is its user's in its tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "key"], name="idempotency_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
