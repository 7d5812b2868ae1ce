import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConnectorConfig",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("platform", models.CharField(max_length=40, verbose_name="piattaforma")),
                ("base_url", models.URLField(blank=True, max_length=500, verbose_name="indirizzo base")),
                ("credentials", models.JSONField(blank=True, default=dict, verbose_name="credenziali")),
                ("settings", models.JSONField(blank=True, default=dict, verbose_name="impostazioni")),
                ("is_active", models.BooleanField(default=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.tenant"
                    ),
                ),
            ],
            options={
                "verbose_name": "configurazione connettore",
                "verbose_name_plural": "configurazioni connettori",
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "platform"), name="connector_config_unique_per_tenant")
                ],
            },
        ),
    ]
