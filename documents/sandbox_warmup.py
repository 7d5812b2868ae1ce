"""Imported by the template fork server only (documents/sandbox.py `_mp_context`): one small
rendering fills the caches (compiled regular expressions of docxtpl, python-docx's parts) that
every forked child then inherits, instead of each child building them again."""

from documents.sandbox import warm_up

try:
    warm_up()
except Exception:  # noqa: BLE001, S110  (an error here would stop the fork server; children just run cold)
    pass
