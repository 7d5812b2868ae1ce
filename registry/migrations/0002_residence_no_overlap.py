"""PostgreSQL refuses two residences of one person whose periods overlap.

Periods are half-open [start_date, end_date) (a move on day D ends the old one on D and starts the
new one on D). The person id goes in as a one-point int8 range so that plain GiST works without
the btree_gist extension (which needs rights a tenant database may not grant). SQLite (the demo)
relies on registry.services, which checks the same rule under a lock on the person.
"""

from django.db import migrations

CREATE = """
ALTER TABLE registry_residence ADD CONSTRAINT registry_residence_no_overlap EXCLUDE USING gist (
    int8range(person_id, person_id, '[]') WITH &&,
    daterange(start_date, end_date, '[)') WITH &&
)
"""
DROP = "ALTER TABLE registry_residence DROP CONSTRAINT IF EXISTS registry_residence_no_overlap"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
