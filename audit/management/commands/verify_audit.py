from django.core.management.base import BaseCommand

from accounts.models import Tenant
from audit.services import verify_chain


class Command(BaseCommand):
    help = "Verify the audit hash chains; name the first broken event and exit 1 if any."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="ISTAT code: verify only that tenant's chain")

    def handle(self, *args, **options):
        key = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(istat_code=options["tenant"]).first()
            if tenant is None:
                self.stderr.write(f"Ente sconosciuto: {options['tenant']}")
                raise SystemExit(2)
            key = str(tenant.pk)
        report = verify_chain(chain_key=key)
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"OK: {report.checked} eventi verificati"))
            return
        e = report.first_broken
        where = f"evento id={e.pk} seq={e.seq} ente={e.tenant_id} del {e.created_at.isoformat()}" if e else "catena"
        self.stderr.write(self.style.ERROR(f"MANOMISSIONE: {where}: {report.reason}"))
        raise SystemExit(1)
