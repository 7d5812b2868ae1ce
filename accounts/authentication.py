"""API token authentication with expiry and the second-factor rule (issue 17, finding 10)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from . import security
from .tenancy import memberships_for_token, second_factor_state_for_request


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = "token_expired"


class SecondFactorRequired(exceptions.PermissionDenied):
    default_code = "second_factor_required"


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused once PROCEDO_API_TOKEN_TTL_DAYS have passed since issue,
    and refused for a user who must have a second factor and has none (a process administrator
    whose token predates enrolment)."""

    def authenticate(self, request):
        self._request = request  # the second-factor check shares the request's membership query
        try:
            return super().authenticate(request)
        finally:
            self._request = None

    def authenticate_credentials(self, key):
        user, token = self._user_and_token(key)
        if security.token_expired(token.created):
            token.delete()
            raise TokenExpired(_("Token scaduto: richiedine uno nuovo."))
        has_device, required = second_factor_state_for_request(getattr(self, "_request", None), user)
        if required and not has_device:
            raise SecondFactorRequired(
                _("Il tuo ruolo richiede l'autenticazione a due fattori: attivala dalla pagina «Sicurezza»."))
        return user, token

    def _user_and_token(self, key):
        """DRF's lookup, folded into the request's membership query when the user has memberships."""
        request = getattr(self, "_request", None)
        rows = memberships_for_token(request, key) if request is not None else []
        if not rows:
            return super().authenticate_credentials(key)
        user = rows[0].user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("Utente disattivato o eliminato."))
        return user, user.auth_token
