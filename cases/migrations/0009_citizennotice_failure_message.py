from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0008_case_number_trigram_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="citizennotice",
            name="failure_message",
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
