"""Load ANPR's archive of municipalities, shipped in forms/data/ (`manage.py load_municipalities
--csv PATH` loads a newer one)."""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)


def load(apps, schema_editor):
    from forms.municipalities import archive_path, load_archive

    path = archive_path()
    if not path.exists():
        logger.warning("ANPR municipality archive not found at %s: run manage.py load_municipalities", path)
        return
    load_archive(apps.get_model("procedo_forms", "Municipality"), path)


class Migration(migrations.Migration):
    dependencies = [("procedo_forms", "0002_municipalities")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
