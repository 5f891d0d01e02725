"""``wraparound audit ...``: check the app's audit trail."""

from __future__ import annotations

import typer

from wraparound.apps.django_setup import setup_django

audit_cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The app's audit trail (tamper evidence)."
)


@audit_cli.command()
def verify() -> None:
    """Walk the audit trail's hash chain (records/chain.py) from the first row. Exit 0 when
    every row holds its hash and continues from the row before; otherwise print the first
    broken row and exit 1."""
    setup_django()
    from wraparound.apps.records.chain import verify as verify_chain

    verdict = verify_chain()
    if verdict.ok:
        typer.echo(f"audit trail intact: {verdict.rows} rows, every link holds")
        return
    typer.echo(
        f"audit trail broken at row {verdict.broken_id} ({verdict.rows} rows checked): "
        f"{verdict.problem}",
        err=True,
    )
    raise typer.Exit(1)


@audit_cli.command("restrict-role")
def restrict_role(role: str = typer.Argument(..., help="The PostgreSQL role the app runs as.")):
    """On PostgreSQL, grant ROLE what the app needs: every app table, with only SELECT and
    INSERT on the audit trail (no UPDATE, DELETE or TRUNCATE). Run it as the tables' owner
    after `wraparound app migrate`; the app then connects as ROLE."""
    setup_django()
    from django.db import connection

    from wraparound.apps.records.db_roles import restrict_app_role

    if connection.vendor != "postgresql":
        typer.echo("error: database roles exist only on PostgreSQL", err=True)
        raise typer.Exit(2)
    with connection.cursor() as cursor:
        restrict_app_role(cursor, role)
    typer.echo(f"{role}: app tables granted; the audit trail is SELECT and INSERT only")
