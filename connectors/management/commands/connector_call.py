"""Run one connector operation by hand against the configured base URL, for operators debugging an
integration: prints every HTTP exchange (secrets masked) and the result or the error."""

from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from common.errors import ProcedoError
from common.operations import OperationContext, all_operations, get_operation
from connectors.base.http import Exchange, observe_exchanges


class Command(BaseCommand):
    help = "Esegue un'operazione di connettore: connector_call <operazione> '<json>' [--tenant ISTAT] | --list"

    def add_arguments(self, parser):
        parser.add_argument("operation", nargs="?", help="nome dell'operazione, es. appio.get_profile")
        parser.add_argument("params", nargs="?", default="{}", help="parametri JSON")
        parser.add_argument("--tenant", help="codice ISTAT dell'ente")
        parser.add_argument("--list", action="store_true", help="elenca le operazioni registrate")
        parser.add_argument("--key", help="chiave di idempotenza (predefinita: una nuova)")

    def handle(self, *args, **options):
        if options["list"]:
            for op in all_operations():
                self.stdout.write(f"{op.name:<34} {op.description}")
            return
        name = options["operation"]
        if not name:
            raise CommandError("Indicare l'operazione (o --list).")
        op = get_operation(name)
        if op is None:
            raise CommandError(f"Operazione sconosciuta: {name}. Vedere --list.")
        try:
            params = json.loads(options["params"])
        except ValueError as exc:
            raise CommandError(f"Parametri JSON non validi: {exc}") from exc
        if not isinstance(params, dict):
            raise CommandError("I parametri devono essere un oggetto JSON.")
        tenant = self._tenant(options["tenant"])
        ctx = OperationContext(tenant_id=tenant.pk, tenant_istat=tenant.istat_code,
                               idempotency_key=options["key"] or f"connector-call-{uuid.uuid4()}")
        with observe_exchanges(self._print_exchange):
            try:
                result = op(params, ctx)
            except ProcedoError as exc:
                self.stderr.write(self.style.ERROR(f"ERRORE [{exc.code}] {exc.message}"))
                platform_code = getattr(exc, "platform_code", None)
                if platform_code:
                    self.stderr.write(f"codice piattaforma: {platform_code}")
                retryable = getattr(exc, "retryable", None)
                if retryable is not None:
                    self.stderr.write("ripetibile: " + ("sì" if retryable else "no"))
                if exc.details:
                    self.stderr.write("dettagli: " + json.dumps(exc.details, ensure_ascii=False, default=str)[:4000])
                raise CommandError("operazione non riuscita") from exc
        self.stdout.write(self.style.SUCCESS("ESITO"))
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, default=str))

    def _tenant(self, istat: str | None) -> Tenant:
        if istat:
            tenant = Tenant.objects.filter(istat_code=istat).first()
            if tenant is None:
                raise CommandError(f"Nessun ente con codice ISTAT {istat}.")
            return tenant
        tenants = list(Tenant.objects.filter(is_active=True)[:2])
        if len(tenants) != 1:
            raise CommandError("Indicare l'ente con --tenant ISTAT.")
        return tenants[0]

    def _print_exchange(self, ex: Exchange) -> None:
        self.stdout.write(f"--> {ex.method} {ex.url}")
        for header, value in ex.request_headers.items():
            self.stdout.write(f"    {header}: {value}")
        if ex.request_body:
            self.stdout.write("    " + ex.request_body.replace("\n", "\n    "))
        if ex.error:
            self.stdout.write(f"<-- errore: {ex.error} ({ex.elapsed_ms} ms)")
            return
        self.stdout.write(f"<-- {ex.status} ({ex.elapsed_ms} ms)")
        for header, value in ex.response_headers.items():
            self.stdout.write(f"    {header}: {value}")
        if ex.response_body:
            self.stdout.write("    " + ex.response_body.replace("\n", "\n    "))
