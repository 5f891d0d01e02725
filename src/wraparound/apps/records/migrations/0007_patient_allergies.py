from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0006_referral_end"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="allergies",
            field=models.JSONField(default=None, null=True),
        ),
    ]
