"""The audit trail becomes a hash chain whose times the database sets, and sign-in lock-out
moves to django-axes.

- ``AuditEvent.prev_hash`` and ``hash`` (records/chain.py), rows already there sealed in id
  order; ``at`` defaults to the database's ``now()``.
- An insert trigger (SQLite and PostgreSQL) refuses a row whose id already exists or is not
  after the last one (so ``REPLACE``, ``INSERT OR REPLACE`` and upserts cannot rewrite a row),
  a time more than 5 seconds from the database's clock (no back-dating), and a row that does
  not continue the chain from the last row. The UPDATE/DELETE (and PostgreSQL TRUNCATE)
  triggers of 0002 are recreated unchanged (they are dropped while the fields are added,
  since SQLite rebuilds the table).
- ``User.failed_logins`` and ``locked_until`` go: axes keeps the attempts.
"""

import django.db.models.functions.datetime
from django.db import migrations, models

TABLE = "records_auditevent"

SQLITE_APPEND_ONLY = [
    f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]
POSTGRES_APPEND_ONLY = [
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$",
    f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]
DROP_APPEND_ONLY = {
    "sqlite": ["DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"],
    "postgresql": [
        f"DROP TRIGGER audit_append_only ON {TABLE}",
        "DROP FUNCTION audit_append_only()",
    ],
}

SQLITE_INSERT = [
    f"""CREATE TRIGGER audit_insert_checks BEFORE INSERT ON {TABLE} BEGIN
  SELECT RAISE(ABORT, 'the audit trail is append-only')
   WHERE NEW.id != -1 AND (NEW.id < 1 OR EXISTS (SELECT 1 FROM {TABLE} WHERE id >= NEW.id));
  SELECT RAISE(ABORT, 'audit times are set by the database')
   WHERE NEW.at IS NULL OR abs(julianday(NEW.at) - julianday('now')) * 86400 > 5;
  SELECT RAISE(ABORT, 'an audit row must continue the chain from the last row')
   WHERE NEW.prev_hash IS NOT coalesce((SELECT hash FROM {TABLE} ORDER BY id DESC LIMIT 1), '')
      OR length(NEW.hash) != 64;
END"""
]
POSTGRES_INSERT = [
    f"""CREATE FUNCTION audit_insert_checks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM {TABLE} WHERE id >= NEW.id) THEN
    RAISE EXCEPTION 'the audit trail is append-only';
  END IF;
  IF NEW.at IS NULL OR abs(extract(epoch FROM NEW.at - clock_timestamp())) > 5 THEN
    RAISE EXCEPTION 'audit times are set by the database';
  END IF;
  IF NEW.prev_hash IS DISTINCT FROM
       coalesce((SELECT hash FROM {TABLE} ORDER BY id DESC LIMIT 1), '')
     OR length(NEW.hash) <> 64 THEN
    RAISE EXCEPTION 'an audit row must continue the chain from the last row';
  END IF;
  RETURN NEW;
END $$""",
    f"CREATE TRIGGER audit_insert_checks BEFORE INSERT ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_insert_checks()",
]
DROP_INSERT = {
    "sqlite": ["DROP TRIGGER audit_insert_checks"],
    "postgresql": [
        f"DROP TRIGGER audit_insert_checks ON {TABLE}",
        "DROP FUNCTION audit_insert_checks()",
    ],
}
CREATE_ALL = {
    "sqlite": SQLITE_APPEND_ONLY + SQLITE_INSERT,
    "postgresql": POSTGRES_APPEND_ONLY + POSTGRES_INSERT,
}
DROP_ALL = {v: DROP_APPEND_ONLY[v] + DROP_INSERT[v] for v in DROP_APPEND_ONLY}
RECREATE_APPEND_ONLY = {"sqlite": SQLITE_APPEND_ONLY, "postgresql": POSTGRES_APPEND_ONLY}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


def seal_existing_rows(apps, schema_editor):
    """Chain the rows written before the chain existed, in id order."""
    from wraparound.apps.records.chain import CHAINED_FIELDS, digest

    events = apps.get_model("records", "AuditEvent").objects.using(schema_editor.connection.alias)
    previous = ""
    for row in events.order_by("id").values("id", *CHAINED_FIELDS).iterator(chunk_size=2000):
        sealed = digest(row, previous)
        events.filter(pk=row["id"]).update(prev_hash=previous, hash=sealed)
        previous = sealed


class Migration(migrations.Migration):
    dependencies = [("records", "0002_audit_append_only")]

    operations = [
        migrations.RunPython(_run(DROP_APPEND_ONLY), _run(RECREATE_APPEND_ONLY)),
        migrations.RemoveField(model_name="user", name="failed_logins"),
        migrations.RemoveField(model_name="user", name="locked_until"),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), db_index=True
            ),
        ),
        migrations.RunPython(seal_existing_rows, migrations.RunPython.noop),
        migrations.RunPython(_run(CREATE_ALL), _run(DROP_ALL)),
    ]
