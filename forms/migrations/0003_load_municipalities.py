"""Load ANPR's archive of municipalities, shipped in forms/data/ (`manage.py load_municipalities
--csv PATH` loads a newer one). The archive is part of the product: a fresh machine fills the table
without any folder outside the project, and a missing archive fails the migration loudly."""

from django.db import migrations


def load(apps, schema_editor):
    from forms.municipalities import archive_path, load_archive

    load_archive(apps.get_model("procedo_forms", "Municipality"), archive_path())


class Migration(migrations.Migration):
    dependencies = [("procedo_forms", "0002_municipalities")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
