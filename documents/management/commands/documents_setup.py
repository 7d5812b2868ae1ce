"""Generate the demo PKI (CA + a signer per demo tenant) and the SoftHSM2 token under var/.

Idempotent; run by scripts/setup.d/documents.sh. Never for production keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from documents import conf, hsm
from documents.pki import write_demo_pki

DEMO_TENANTS = ["demo"]


class Command(BaseCommand):
    help = "Create demo signing certificates and the SoftHSM2 token in var/documents."

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        pki_dir = conf.documents_var_dir() / "pki"
        write_demo_pki(pki_dir, tenants=DEMO_TENANTS)
        self.stdout.write(f"demo PKI in {pki_dir}")
        if hsm.module_path() is not None:
            hsm.ensure_token(key_der=pki_dir / "signer-demo-key.der", cert_pem=pki_dir / "signer-demo.pem")
            self.stdout.write(f"SoftHSM2 token '{hsm.TOKEN_LABEL}' in {hsm.softhsm_dir()}")
