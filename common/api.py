"""API error shape: {"error": {"code": ..., "message": ..., "fields": {...}}}.

`code` is stable English for machines; `message` is Italian for people. Every
ProcedoError maps to its status; anything unexpected is logged and becomes a 500
without internals (a bug, never a user's fault).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict, NotFound, PermissionRefused, ProcedoError, Unprocessable, ValidationFailed

logger = logging.getLogger("procedo.api")

_STATUS = {
    ValidationFailed: status.HTTP_400_BAD_REQUEST,
    PermissionRefused: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Unprocessable: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def error_body(code: str, message: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProcedoError):
        status_code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        logger.info("API refused: %s %s (%s)", exc.code, exc.message, context.get("view").__class__.__name__)
        return Response(error_body(exc.code, exc.message, exc.details), status=status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Risorsa non trovata."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(_("Operazione non consentita."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = error_body("invalid", _("I dati inviati non sono validi."), fields)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = error_body(exc.default_code, detail)
    return response
