"""Read replica routing: reports, exports and inbox counts may read from `replica`; all else reads the primary.

A read goes to the replica only when all of these hold:

- a `replica` database is configured (DATABASE_REPLICA_URL);
- the code asked for it: a view named in PROCEDO_REPLICA_READ_VIEWS (GET/HEAD only, through
  ReplicaReadsMiddleware) or a block under `replica_reads()`;
- no transaction is open on the primary (a read inside a transaction must see its own writes and
  the rows it locked);
- nothing was written earlier in this request or task (read-your-writes), and the client did not
  write in the last PROCEDO_REPLICA_PIN_SECONDS (the middleware sets a short cookie after a write,
  so the page a POST redirects to is read from the primary while the replica catches up).

Everything else, and every write and migration, goes to the primary (`default`). Audit events do
not pin: recording that someone read a list is not a change that reader must see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
PRIMARY = "default"
PIN_COOKIE = "procedo_primary"

_replica_allowed: ContextVar[bool] = ContextVar("procedo_replica_allowed", default=False)
_pinned: ContextVar[bool] = ContextVar("procedo_pinned_to_primary", default=False)
_wrote: ContextVar[bool] = ContextVar("procedo_wrote", default=False)

# Writes to these apps do not pin the rest of the request to the primary.
_NON_PINNING_APPS = frozenset({"audit", "sessions", "axes"})


def replica_configured() -> bool:
    return REPLICA in connections.databases


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Let the reads in this block go to the replica (still subject to the rules above)."""
    token = _replica_allowed.set(True)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


@contextlib.contextmanager
def request_scope(*, pinned: bool = False) -> Iterator[None]:
    """A fresh routing state for one request or task: nothing written yet, no replica reads allowed."""
    allowed_token = _replica_allowed.set(False)
    pinned_token = _pinned.set(pinned)
    wrote_token = _wrote.set(False)
    try:
        yield
    finally:
        _wrote.reset(wrote_token)
        _pinned.reset(pinned_token)
        _replica_allowed.reset(allowed_token)


def wrote_in_scope() -> bool:
    return _wrote.get()


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        if (
            _replica_allowed.get()
            and not _pinned.get()
            and replica_configured()
            and not connections[PRIMARY].in_atomic_block
        ):
            return REPLICA
        return PRIMARY

    def db_for_write(self, model, **hints) -> str:
        if model._meta.app_label not in _NON_PINNING_APPS:
            _pinned.set(True)
            _wrote.set(True)
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # same data on both aliases

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == PRIMARY


class ReplicaReadsMiddleware:
    """Scopes the routing state to each request and opens replica reads for the views that may use them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        recently_wrote = PIN_COOKIE in request.COOKIES
        with request_scope(pinned=recently_wrote):
            response = self.get_response(request)
            if wrote_in_scope() and replica_configured():
                response.set_cookie(
                    PIN_COOKIE, "1", max_age=settings.PROCEDO_REPLICA_PIN_SECONDS, httponly=True,
                    samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
                )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        match = request.resolver_match
        if (
            request.method in ("GET", "HEAD")
            and match is not None
            and match.url_name in settings.PROCEDO_REPLICA_READ_VIEWS
        ):
            _replica_allowed.set(True)  # undone by request_scope when the request ends
        return None
