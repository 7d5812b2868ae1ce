from django.core.management.base import BaseCommand

from accounts.models import Tenant
from audit.services import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit hash chains and their seals; name every problem found (altered or deleted "
        "events, a chain cut short below its last seal or missing entirely, forged seals) and exit 1 if any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="ISTAT code: verify only that tenant's chains")

    def handle(self, *args, **options):
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(istat_code=options["tenant"]).first()
            if tenant is None:
                self.stderr.write(f"Ente sconosciuto: {options['tenant']}")
                raise SystemExit(2)
        report = verify_chain(tenant=tenant)
        if report.ok:
            self.stdout.write(self.style.SUCCESS(
                f"OK: {report.checked} eventi verificati, {report.seals_checked} sigilli verificati"))
            return
        for problem in report.problems:
            e = problem.event
            where = (f"evento id={e.pk} seq={e.seq} ente={e.tenant_id} del {e.created_at.isoformat()}" if e
                     else f"catena {problem.chain_key}")
            self.stderr.write(self.style.ERROR(f"MANOMISSIONE: {where}: {problem.reason}"))
        raise SystemExit(1)
