"""Operations for tests that run a real Celery worker (loaded through
PROCEDO_EXTRA_OPERATION_MODULES, so the worker process registers them too)."""

from common.operations import operation


@operation("test.echo", description="Echo the parameters back (tests only)", params=())
def echo(params, ctx):
    return {"echo": params.get("value"), "key": ctx.idempotency_key}


@operation("documents.test_echo", description="Echo, served by the documents workers (tests only)", params=())
def documents_echo(params, ctx):
    return {"echo": params.get("value"), "key": ctx.idempotency_key}
