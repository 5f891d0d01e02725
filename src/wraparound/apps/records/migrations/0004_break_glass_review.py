# Break-glass: the reason chosen from data/break_glass_reasons.toml, and the auditor's
# sign-off (issue 11). Written by hand so it holds only the BreakGlass changes.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0003_audit_chain_and_axes"),
    ]

    operations = [
        migrations.AddField(
            model_name="breakglass",
            name="reason_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="breakglass",
            name="reviewed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="breakglass",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="breakglass",
            name="review_outcome",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="breakglass",
            name="review_note",
            field=models.TextField(blank=True),
        ),
        migrations.AddIndex(
            model_name="breakglass",
            index=models.Index(
                fields=["user", "patient", "expires_at"], name="records_bre_user_id_b89970_idx"
            ),
        ),
    ]
