"""Every existing municipality gets the default document types (new ones get them when created)."""

from django.db import migrations

DEFAULTS = [
    ("scansione", "Scansione"),
    ("documento_identita", "Documento d'identità"),
    ("permesso_soggiorno", "Permesso di soggiorno"),
    ("titolo_occupazione", "Titolo di occupazione dell'abitazione"),
    ("dichiarazione_sostitutiva", "Dichiarazione sostitutiva"),
    ("atto_stato_civile", "Atto di stato civile"),
    ("comunicazione", "Comunicazione ricevuta"),
]


def seed(apps, schema_editor):
    Tenant = apps.get_model("accounts", "Tenant")
    DocumentType = apps.get_model("documents", "DocumentType")
    for tenant in Tenant.objects.all():
        existing = set(DocumentType.objects.filter(tenant=tenant).values_list("code", flat=True))
        DocumentType.objects.bulk_create([DocumentType(tenant=tenant, code=c, name=n)
                                          for c, n in DEFAULTS if c not in existing])


class Migration(migrations.Migration):
    dependencies = [("documents", "0003_tenant_templates"), ("accounts", "0003_coat_of_arms")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
