"""Django's authentication signals, each handed to its explicit audit event.

Django emits these from its own login and logout code (pages, admin, any backend), so a
receiver is the one place that sees every login; it does nothing but call the event.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.events import login_failed_event, login_succeeded_event, logout_event


@receiver(user_logged_in, dispatch_uid="procedo_audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    login_succeeded_event(request=request, user=user)


@receiver(user_login_failed, dispatch_uid="procedo_audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; only the name tried is kept.
    login_failed_event(request=request, username=credentials.get("username", ""))


@receiver(user_logged_out, dispatch_uid="procedo_audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    logout_event(request=request, user=user)
