"""Test data builders shared by the suites."""

from __future__ import annotations

import itertools

from rest_framework.test import APIClient

from accounts.models import Membership, Tenant, User

_seq = itertools.count(1)


def make_tenant(name: str = "Comune di Prova", *, istat: str | None = None, belfiore: str | None = None, patron=None) -> Tenant:
    n = next(_seq)
    return Tenant.objects.create(
        name=name,
        slug=f"t{n}-{name.lower().replace(' ', '-')}"[:50],
        istat_code=istat or f"{900000 + n:06d}",
        belfiore_code=belfiore or f"Z{n:03d}"[:4],
        patron_month=patron[0] if patron else None,
        patron_day=patron[1] if patron else None,
    )


def make_user(tenant: Tenant, *roles: str, username: str | None = None, fiscal_code: str = "") -> User:
    user = User.objects.create_user(
        username=username or f"{'-'.join(roles) or 'user'}.{tenant.slug}.{next(_seq)}",
        password="pw-test-123",
        fiscal_code=fiscal_code,
    )
    for role in roles:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def api_client(user: User, tenant: Tenant | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    if tenant is not None:
        client.credentials(HTTP_X_PROCEDO_TENANT=tenant.istat_code)
    return client


def enrol_totp(user: User):
    """A confirmed TOTP device for the user (process administrators cannot work without one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_now(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def second_factor_client(user: User):
    """A page client signed in as `user` with a verified second factor (process administrators and
    superusers work only so; harmless for everyone else)."""
    from django.test import Client

    client = Client()
    login_with_second_factor(client, user)
    return client


def login_with_second_factor(client, user: User):
    """force_login plus a second factor verified in the session, as after /accedi/verifica/."""
    from django_otp import DEVICE_ID_SESSION_KEY

    device = enrol_totp(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
