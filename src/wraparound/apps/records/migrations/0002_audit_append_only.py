"""Make the audit table append-only in the database itself: UPDATE and DELETE are refused by
triggers (SQLite and PostgreSQL), underneath the model's own refusal."""

from django.db import migrations

TABLE = "records_auditevent"

SQLITE = [
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]
POSTGRES = [
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
    f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]
UNDO = {
    "sqlite": ["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"],
    "postgresql": [
        f"DROP TRIGGER audit_append_only ON {TABLE}",
        "DROP FUNCTION audit_append_only()",
    ],
}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]
    operations = [
        migrations.RunPython(_run({"sqlite": SQLITE, "postgresql": POSTGRES}), _run(UNDO))
    ]
