"""What a "Segnala un problema" report captures, cleaned: the page (a path of this site only),
the case it was about (only a case the reporter may see), the browser, and the screenshot
(checked by content: PNG or JPEG, size limited). The time is the server's (the process records
`reported_at` when the SLA clock starts)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from common.errors import ValidationFailed

MAX_SCREENSHOT_BYTES = 5 * 1024 * 1024
SCREENSHOT_TYPES = ("png", "jpg")
_CASE_PATH = re.compile(r"^/pratiche/(\d{1,12})/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_page(value: Any) -> str:
    """The path (and query) of a page of this site; anything else (another host, javascript:) is dropped."""
    text = _CONTROL.sub("", str(value or "").strip())[:500]
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    # "/\\evil.example" is "//evil.example" to a browser: the page is also where the reporter returns.
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//") or "\\" in text:
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


def related_case_number(*, tenant, user, page: str) -> str:
    """The number of the case the page shows, if the reporter may see it."""
    from cases.selectors import case_visible_qs

    match = _CASE_PATH.match(page)
    if not match:
        return ""
    number = case_visible_qs(tenant=tenant, user=user).filter(pk=int(match.group(1))).values_list(
        "number", flat=True).first()
    return number or ""


def check_screenshot(data: bytes) -> None:
    from documents.filecheck import check_upload

    if len(data) > MAX_SCREENSHOT_BYTES:
        raise ValidationFailed(_("La schermata supera i 5 MB."), details={"screenshot": [_("File troppo grande.")]})
    _mime, ext = check_upload(data)  # FileRejected (a ValidationFailed) for anything but PDF/images
    if ext not in SCREENSHOT_TYPES:
        message = _("La schermata deve essere un'immagine PNG o JPEG.")
        raise ValidationFailed(message, details={"screenshot": [message]})


def report_problem(*, tenant, user, level: str, summary: str, description: str, page: str, browser: str,
                   screenshot: tuple[bytes, str] | None = None, ip: str | None = None):
    """Open a malfunction ticket (cases.services.case_start validates the start form) and attach
    the screenshot to it. The screenshot is checked before the ticket opens."""
    from cases.services import case_start
    from documents.services import attachment_store

    if screenshot is not None:
        check_screenshot(screenshot[0])
    page = clean_page(page)
    data = {"level": str(level or ""), "summary": (summary or "").strip(), "description": (description or "").strip(),
            "page_url": page, "browser": _CONTROL.sub("", browser or "")[:500]}
    number = related_case_number(tenant=tenant, user=user, page=page)
    if number:
        data["related_case"] = number
    case = case_start(tenant=tenant, user=user, process_id="malfunction_ticket", data=data, ip=ip)
    if screenshot is not None:
        attachment_store(tenant=tenant, user=user, case=case, data=screenshot[0], filename=screenshot[1] or "schermata",
                         kind="schermata", accept=list(SCREENSHOT_TYPES), max_bytes=MAX_SCREENSHOT_BYTES, ip=ip)
    return case
