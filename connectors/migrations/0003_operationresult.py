import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("connectors", "0002_debtposition"),
    ]

    operations = [
        migrations.CreateModel(
            name="OperationResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("operation", models.CharField(max_length=100)),
                ("idempotency_key", models.CharField(max_length=200)),
                ("result", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.tenant"
                    ),
                ),
            ],
            options={
                "verbose_name": "esito operazione",
                "verbose_name_plural": "esiti operazioni",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "operation", "idempotency_key"), name="operation_result_unique_key"
                    )
                ],
            },
        ),
    ]
