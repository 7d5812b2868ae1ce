"""Validate task and start data against JSON Schema, with Italian messages per field.

Returns {"field.path": ["messaggio", ...]}; empty dict means valid. Field paths use
dots and list indexes (`declarants.0.fiscal_code`), the same keys the UI uses to put
an error next to its field. Fields whose name is or ends with `fiscal_code` are also
checked for the fiscal-code checksum.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import regex
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from common import fiscal_code

logger = logging.getLogger(__name__)
_FORMAT_CHECKER = FormatChecker()
# A `pattern` comes from a process model a tenant's admin may edit: a catastrophic expression
# (`^(a|aa)+$` on a long value) must cost a bounded time, not a web worker. Python's `re` has no
# limit; the `regex` module does, so patterns are matched with it and a timeout.
PATTERN_TIMEOUT_SECONDS = 0.05


@lru_cache(maxsize=512)
def _compiled(pattern: str):
    return regex.compile(pattern)


def _pattern(validator, pattern: str, instance: Any, schema: dict[str, Any]):
    if not validator.is_type(instance, "string"):
        return
    try:
        found = _compiled(pattern).search(instance, timeout=PATTERN_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("form pattern %r timed out on a %s-character value", pattern[:200], len(instance))
        yield ValidationError("pattern timed out", validator="pattern", validator_value=pattern)
        return
    except regex.error:
        logger.warning("form pattern %r does not compile", pattern[:200])
        yield ValidationError("invalid pattern", validator="pattern", validator_value=pattern)
        return
    if found is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_BoundedValidator = extend(Draft202012Validator, {"pattern": _pattern})


@_FORMAT_CHECKER.checks("municipality")
def _is_municipality(value: object) -> bool:
    """An ISTAT code of ANPR's archive of municipalities (current or former)."""
    if not isinstance(value, str):
        return True  # the type keyword reports it
    from .municipalities import exists

    return exists(value)


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    import json

    return _BoundedValidator(json.loads(schema_json), format_checker=_FORMAT_CHECKER)


def _path(error: ValidationError, extra: str | None = None) -> str:
    parts = [str(p) for p in error.absolute_path]
    if extra:
        parts.append(extra)
    return ".".join(parts) or "__all__"


def _message(error: ValidationError) -> tuple[str, str | None]:
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else None
        return _("Campo obbligatorio."), missing
    if v == "type":
        return _("Tipo di dato non valido."), None
    if v == "enum":
        allowed = ", ".join(str(x) for x in error.validator_value)
        return _("Valore non ammesso: scegli tra %(allowed)s.") % {"allowed": allowed}, None
    if v == "const":
        return _("Valore non ammesso."), None
    if v == "pattern":
        return _("Formato non valido."), None
    if v == "format":
        if error.validator_value == "date":
            return _("Data non valida: usa il formato AAAA-MM-GG."), None
        if error.validator_value == "email":
            return _("Indirizzo email non valido."), None
        if error.validator_value == "municipality":
            return _("Comune non trovato: sceglilo dall'elenco o indica il codice ISTAT."), None
        return _("Formato non valido."), None
    if v == "minLength":
        return (_("Campo obbligatorio.") if error.validator_value == 1 else _("Testo troppo corto (minimo %(n)s caratteri).") % {"n": error.validator_value}), None
    if v == "maxLength":
        return _("Testo troppo lungo (massimo %(n)s caratteri).") % {"n": error.validator_value}, None
    if v == "minItems":
        return _("Inserisci almeno %(n)s elementi.") % {"n": error.validator_value}, None
    if v == "maxItems":
        return _("Inserisci al massimo %(n)s elementi.") % {"n": error.validator_value}, None
    if v in ("minimum", "exclusiveMinimum"):
        return _("Valore troppo basso (minimo %(n)s).") % {"n": error.validator_value}, None
    if v in ("maximum", "exclusiveMaximum"):
        return _("Valore troppo alto (massimo %(n)s).") % {"n": error.validator_value}, None
    if v == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else None
        return _("Campo non previsto."), extra
    return _("Valore non valido."), None


def validate_data(schema_json: str, data: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return {"__all__": [_("I dati devono essere un oggetto JSON.")]}
    for error in _validator(schema_json).iter_errors(data):
        # if/then/allOf wrap the real errors: report the innermost ones
        leaves = [error]
        if error.context:
            leaves = [e for e in error.context if not e.context] or leaves
        for leaf in leaves:
            message, extra = _message(leaf)
            errors.setdefault(_path(leaf, extra), []).append(message)
    _check_fiscal_codes(data, "", errors)
    return errors


def _check_fiscal_codes(value: Any, path: str, errors: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key.endswith("fiscal_code") and isinstance(item, str) and item and sub not in errors:
                if not fiscal_code.is_valid(item.upper()):
                    errors.setdefault(sub, []).append(_("Codice fiscale non valido (controlla il carattere di controllo)."))
            else:
                _check_fiscal_codes(item, sub, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_fiscal_codes(item, f"{path}.{index}" if path else str(index), errors)
