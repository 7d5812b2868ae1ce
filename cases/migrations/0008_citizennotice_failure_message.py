from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0007_case_idempotency_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="citizennotice",
            name="failure_message",
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
