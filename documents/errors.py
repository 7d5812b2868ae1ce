"""Errors of the documents package: Italian message for people, English code for machines."""

from __future__ import annotations

from common.errors import ConfigurationError, ProcedoError, ValidationFailed


class TemplateRejected(ValidationFailed):
    code = "template_rejected"


class RenderFailed(ProcedoError):
    code = "render_failed"


class ConversionFailed(ProcedoError):
    code = "conversion_failed"


class SigningFailed(ProcedoError):
    code = "signing_failed"


class WrongPin(SigningFailed):
    code = "wrong_pin"


class CertificateExpired(SigningFailed):
    code = "certificate_expired"


class TimestampUnavailable(SigningFailed):
    code = "tsa_unreachable"


class FileRejected(ValidationFailed):
    code = "file_rejected"


__all__ = [
    "CertificateExpired", "ConfigurationError", "ConversionFailed", "FileRejected", "RenderFailed",
    "SigningFailed", "TemplateRejected", "TimestampUnavailable", "WrongPin",
]
