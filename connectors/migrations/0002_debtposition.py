import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("connectors", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="DebtPosition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("idempotency_key", models.CharField(max_length=200)),
                ("case_id", models.BigIntegerField(blank=True, null=True)),
                ("case_number", models.CharField(blank=True, max_length=60)),
                ("iupd", models.CharField(max_length=60)),
                ("iuv", models.CharField(max_length=17)),
                ("notice_number", models.CharField(max_length=18, verbose_name="numero avviso")),
                ("organization_fiscal_code", models.CharField(max_length=16)),
                ("amount_cents", models.PositiveBigIntegerField()),
                ("description", models.CharField(max_length=140)),
                ("debtor_fiscal_code", models.CharField(max_length=16)),
                ("kind", models.CharField(default="fee", max_length=20)),
                ("status", models.CharField(default="NEW", max_length=20)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("paid_at", models.DateTimeField(blank=True, null=True)),
                ("paid_delivered_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.tenant"
                    ),
                ),
            ],
            options={
                "verbose_name": "posizione debitoria",
                "verbose_name_plural": "posizioni debitorie",
                "indexes": [models.Index(fields=["status", "paid_delivered_at"], name="debt_position_pending_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "idempotency_key"), name="debt_position_unique_key"),
                    models.UniqueConstraint(
                        fields=("organization_fiscal_code", "iuv"), name="debt_position_unique_iuv"
                    ),
                ],
            },
        ),
    ]
