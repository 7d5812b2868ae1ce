from django.core.management.base import BaseCommand

from identity.idps import demo_idp_enabled
from identity.sp import sp_credentials_ensure


class Command(BaseCommand):
    help = "Create the demo SP key and certificate (Avviso SPID n. 29 v3) and the demo IdP's, under var/ (idempotent)."

    def handle(self, *args, **options):
        sp = sp_credentials_ensure()
        self.stdout.write(f"SP certificate: {sp.cert_file}")
        if demo_idp_enabled():
            from identity.demo_idp.idp import demo_credentials_ensure

            _key, cert = demo_credentials_ensure()
            self.stdout.write(f"Demo IdP certificate: {cert}")
