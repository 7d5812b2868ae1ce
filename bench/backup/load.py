"""Load a database for the backup drill: N residence-change cases (through cases.services, as the API
does) in two municipalities, one attachment each, so that pg_dump, the documents and the audit chains
all have realistic size. Prints the seconds it took.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_backup python bench/backup/load.py 2000
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402

from accounts.models import Membership, Tenant, User  # noqa: E402
from cases.services import case_start  # noqa: E402
from documents.services import attachment_store  # noqa: E402

DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}


def main(total: int) -> None:
    started = time.perf_counter()
    call_command("sync_processes", verbosity=0)
    offices = []
    for istat, belfiore, name in (("046007", "B648", "Capannori"), ("046017", "E715", "Lucca")):
        tenant, _ = Tenant.objects.get_or_create(istat_code=istat, defaults={"name": f"Comune di {name}",
                                                                              "slug": name.lower(), "belfiore_code": belfiore})
        user, _ = User.objects.get_or_create(username=f"backup.registrar.{istat}")
        Membership.objects.get_or_create(user=user, tenant=tenant, role="registrar")
        offices.append((tenant, user))
    for i in range(total):
        tenant, user = offices[i % 2]
        case = case_start(tenant=tenant, user=user, process_id="residence_change", data=DECLARATION)
        image = io.BytesIO()
        Image.new("RGB", (64, 64), (i % 256, (i // 256) % 256, 7)).save(image, format="PNG")
        attachment_store(tenant=tenant, user=user, case=case, data=image.getvalue(), filename=f"documento-{i}.png")
    print(f"loaded {total} cases with {total} attachments in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
