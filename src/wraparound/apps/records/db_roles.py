"""The PostgreSQL role the app runs as may append to the audit trail and read it, and
nothing else there: no UPDATE, DELETE or TRUNCATE, and, not owning the table, no dropping its
triggers. The triggers refuse those statements for the owner too; the role's missing
privileges mean a compromised app cannot even try."""

from __future__ import annotations

from psycopg import sql

AUDIT_TABLE = "records_auditevent"


def restrict_app_role(cursor, role: str) -> None:
    """Grant ``role`` the app's tables and sequences in the current schema, then take back
    everything on the audit table but SELECT and INSERT."""
    name = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            name
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name),
        sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(AUDIT_TABLE), name),
        sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sql.Identifier(AUDIT_TABLE), name),
    ]
    for statement in statements:
        cursor.execute(statement.as_string(cursor.connection))
