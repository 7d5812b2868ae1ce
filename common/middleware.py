from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class ItalianFirstLocaleMiddleware:
    """Italian unless the user picked another language (language cookie from /i18n/setlang/).

    Municipal staff use browsers set to any language; the product speaks Italian by
    default, so the browser's Accept-Language is deliberately not consulted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class RejectNulBytesMiddleware:
    """Refuse NUL characters anywhere in the query string or the body (400, logged).

    PostgreSQL cannot store them in text or jsonb, so letting one through turns a
    user's odd input into a server error deep inside a transaction.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        suspicious = "%00" in query or "\x00" in query or "\x00" in request.path
        content_type = request.META.get("CONTENT_TYPE", "")
        if not suspicious and request.method in ("POST", "PUT", "PATCH"):
            # Only text bodies: an uploaded file (multipart) may legitimately hold NUL bytes.
            if content_type.startswith("application/json"):
                body = request.body  # read once; Django caches it for the view
                suspicious = b"\x00" in body or b"\\u0000" in body
            elif content_type.startswith("application/x-www-form-urlencoded"):
                body = request.body
                suspicious = b"%00" in body or b"\x00" in body
        if suspicious:
            import logging

            from django.http import JsonResponse
            from django.utils.translation import gettext as _

            logging.getLogger("procedo.security").warning("refused a request with NUL bytes: %s", request.path[:200])
            message = _("La richiesta contiene caratteri non ammessi.")
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "invalid_characters", "message": message}}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than any form or upload can be (413), before
    Django reads it: a 2 GB "upload" is turned away at the door, not written to a temporary file.

    PROCEDO_MAX_REQUEST_BYTES (default 30 MB: the largest upload, 20 MB, plus the form around it).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = int(getattr(settings, "PROCEDO_MAX_REQUEST_BYTES", 30 * 1024 * 1024))
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            import logging

            from django.http import JsonResponse
            from django.utils.translation import gettext as _

            logging.getLogger("procedo.security").warning(
                "refused a %s-byte request to %s", declared, request.path[:200])
            message = _("La richiesta è troppo grande (al massimo %(mb)s MB).") % {"mb": limit // (1024 * 1024)}
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "request_too_large", "message": message, "fields": {}}},
                                    status=413)
            response = HttpResponse(f"<!doctype html><html lang=\"it\"><title>413</title><p>{message}</p></html>",
                                    status=413)
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class JsonDepthLimitMiddleware:
    """Refuse a JSON body nested deeper than PROCEDO_JSON_MAX_DEPTH (default 64) with a 400, before any
    parser recurses into it (common/jsondepth.py): 100 000 nested arrays used to end in a
    RecursionError and an HTML 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        is_json = content_type == "application/json" or content_type.endswith("+json")
        if is_json and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            from .jsondepth import max_depth, too_deep

            if too_deep(request.body):
                import logging

                from django.http import JsonResponse
                from django.utils.translation import gettext as _

                logging.getLogger("procedo.security").warning(
                    "refused a JSON body nested past %s levels: %s", max_depth(), request.path[:200])
                message = _("Il JSON inviato è annidato troppo in profondità (al massimo %(n)s livelli).") % {
                    "n": max_depth()}
                return JsonResponse({"error": {"code": "json_too_deep", "message": message, "fields": {}}},
                                    status=400)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Content-Security-Policy on every response: scripts, styles, fonts and images only from this
    origin (no inline script, no inline style, no CDN), no framing, no plugins, forms post here only.

    An injected `<script>` or `onclick=` in a page is not executed by the browser. PROCEDO_CSP
    replaces the whole policy when a deployment needs another one.
    """

    # Bootstrap Italia's bundle injects one <style> with its @font-face rules (first empty, then filled):
    # those two exact contents are allowed by hash, no other inline style is. Its CSS embeds fonts as
    # data: URIs. tests/e2e/test_csp_browser.py fails on any violation (e.g. after an upgrade).
    BOOTSTRAP_ITALIA_STYLE_HASHES = ("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
                                     "'sha256-wPXhisdsFu1DtHYH1D9W5isSGqS5vIPn6QJWSNLqfCM='")
    DEFAULT = ("default-src 'self'; script-src 'self'; "
               f"style-src 'self' {' '.join(BOOTSTRAP_ITALIA_STYLE_HASHES)}; img-src 'self' data:; "
               "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
               "frame-ancestors 'none'")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "PROCEDO_CSP", "") or self.DEFAULT

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class DomainErrorPagesMiddleware:
    """The one place that turns a page view's domain error into its error page.

    A view lets `NotFound` and `PermissionRefused` (common/errors.py) propagate; this middleware
    answers them as Django's own 404 and 403 pages (templates/404.html, 403.html: Italian, in the
    site layout), logged like any 404/403. An htmx request gets a small fragment with the same status
    instead of a whole page (also for a plain Http404/PermissionDenied): a whole page never lands
    inside the part of a page htmx swaps. Errors a view must answer otherwise (a form shown again with a
    message, a conflict told as a warning) are still caught by that view. The API is left alone:
    DRF's exception handler (common/api.py) answers it with the JSON error shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.core.exceptions import PermissionDenied
        from django.core.handlers.exception import response_for_exception
        from django.http import Http404

        from .errors import NotFound, PermissionRefused

        if request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotFound):
            page_exception: Exception = Http404(exception.message)
        elif isinstance(exception, PermissionRefused):
            page_exception = PermissionDenied(exception.message)
        elif isinstance(exception, Http404 | PermissionDenied):
            page_exception = exception
        else:
            return None
        if request.headers.get("HX-Request"):
            return self._fragment(request, page_exception)
        if page_exception is exception:
            return None  # Django's handlers render it, with the same templates
        return response_for_exception(request, page_exception)

    @staticmethod
    def _fragment(request: HttpRequest, exception: Exception) -> HttpResponse:
        from django.http import Http404
        from django.template.loader import render_to_string
        from django.utils.log import log_response
        from django.utils.translation import gettext as _

        if isinstance(exception, Http404):
            status, message = 404, _("L'elemento richiesto non esiste o non è più disponibile.")
        else:
            # A refusal's own message says why (it is written for people, in Italian).
            status, message = 403, str(exception) or _("Non hai i permessi per questa operazione.")
        response = HttpResponse(
            render_to_string("_error_fragment.html", {"message": message}, request=request), status=status)
        log_response("%s: %s", "Not Found" if status == 404 else "Forbidden", request.path,
                     response=response, request=request)
        return response
