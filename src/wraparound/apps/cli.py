"""``wraparound app ...``: set up, refresh and serve the care co-ordination web app."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from wraparound.apps.django_setup import migrate, setup_django

app_cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The care co-ordination web app (Django)."
)

WAREHOUSE = typer.Option(..., "--warehouse", help="Warehouse directory to read from.")


def readable_warehouse(path: Path) -> None:
    """Check the warehouse can be read before the app starts on it: a bad one is one clear
    sentence (``wraparound.cli.user_errors``, around every command), not a traceback."""
    from wraparound.warehouse.check import readable

    readable(path)


def _note_missing_identity(result: dict) -> None:
    missing = result.get("patients_without_identity") or 0
    if missing:
        typer.echo(
            f"note: {missing:,} patients have no NHS number in the warehouse's identity table "
            "and are not in the app (a source without NHS numbers, or a warehouse written "
            "before the identity table: load its Patients or patients.csv again)",
            err=True,
        )


@app_cli.command("migrate")
def migrate_cmd() -> None:
    """Create or update the app database (SQLite under var/, or $DATABASE_URL)."""
    setup_django()
    migrate()
    typer.echo("database up to date")


@app_cli.command()
def refresh(warehouse: Path = WAREHOUSE) -> None:
    """Load organisations, patients, the newest register run and timelines from the
    warehouse, raise alerts for hospital events in batches loaded since last time, and write
    what the app records back as app events (DIR/app_events/) for the indicators."""
    readable_warehouse(warehouse)
    setup_django(warehouse)
    from wraparound.apps.export_events import export_app_events as export
    from wraparound.apps.refresh import refresh as run_refresh

    migrate()
    result = run_refresh(warehouse)
    result["app_events"] = export(warehouse, result.pop("touched_ids"))
    typer.echo(json.dumps(result, indent=2, default=str))
    _note_missing_identity(result)


@app_cli.command("export-events")
def export_events(warehouse: Path = WAREHOUSE) -> None:
    """Write what the app records (named GPs, care plans agreed and reviewed, reviews and
    assessments) to DIR/app_events/app_events.parquet for `wraparound indicators`,
    replacing the previous export. Opted-out patients are left out."""
    readable_warehouse(warehouse)
    setup_django(warehouse)
    from wraparound.apps.care.app_events import check_warehouse
    from wraparound.apps.export_events import export_app_events as export

    check_warehouse(warehouse)
    migrate()
    result = export(warehouse)
    typer.echo(json.dumps(result, indent=2))


@app_cli.command()
def demo(warehouse: Path = WAREHOUSE) -> None:
    """Refresh from the warehouse, create a demo user for every role, some casework, care
    plans and reviews, export them as app events, and print the logins."""
    readable_warehouse(warehouse)
    setup_django(warehouse)
    from wraparound.apps.demo import (
        DEMO_PASSWORD,
        create_demo_casework,
        create_demo_reviews,
        create_demo_users,
    )
    from wraparound.apps.export_events import export_app_events as export
    from wraparound.apps.refresh import refresh as run_refresh

    migrate()
    result = run_refresh(warehouse)
    typer.echo(f"loaded {result['patients']} patients, register run {result['register_run']}")
    users = create_demo_users()
    create_demo_casework()
    reviews = create_demo_reviews()
    from wraparound.apps.access.seed import seed_hubs

    hubs = seed_hubs()  # hubs, rotas, four weeks ahead and a year of bookings (issue 13)
    typer.echo(
        f"demo hubs: {hubs['hubs']}, {hubs['slots']} slots, {hubs['appointments']} appointments"
    )
    from wraparound.apps.demo import create_demo_referrals

    referrals = create_demo_referrals()  # the directory and a year of referrals (issue 14)
    typer.echo(
        f"demo referrals: {referrals['services']} directory services, "
        f"{referrals['referrals']} referrals; provider logins: dermatology, transport"
    )
    from wraparound.apps.demo import create_demo_feedback, create_demo_outreach

    feedback = create_demo_feedback()  # FFT responses and offers (issue 15)
    outreach = create_demo_outreach(warehouse)  # the outreach call lists (issue 14)
    typer.echo(f"demo feedback: {feedback}; outreach call lists: {outreach}")
    from wraparound.apps.commissioning.seed import seed_governance

    typer.echo(f"demo governance: {seed_governance()}")  # decisions, interests (issue 16)
    from wraparound.apps.triage.seed import seed_demo as seed_triage

    triage = seed_triage()  # a year of answered requests, today's triage queue (issue 14/15)
    typer.echo(f"demo triage: {triage['requests']} requests")
    exported = export(warehouse)
    typer.echo(
        f"demo reviews: {reviews}; {exported['events']} app events written to {exported['path']}"
    )
    typer.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
    for user in users:
        typer.echo(
            f"  {user.username:<14} {user.role_info.label:<30} "
            f"{user.get_scope_display()}: {user.scope_org.name}"
        )
    from wraparound.apps.portal.demo import create_demo_portal, seed_path

    portal_logins = create_demo_portal(DEMO_PASSWORD)  # the patient portal (issue 15)
    typer.echo(
        f"\nPatient portal http://127.0.0.1:8000/portal/ through the local NHS login "
        f"(wraparound idp serve --seed {seed_path()}; password {DEMO_PASSWORD})"
    )
    for login in portal_logins:
        typer.echo(f"  {login['email']:<26} {login['note']}")


@app_cli.command("directory-import")
def directory_import(
    file: Path = typer.Argument(..., help="An Open Referral UK-shaped JSON or CSV file."),
) -> None:
    """Import the directory of services from FILE (docs/clinical-content.md, "Directory of
    services"): every service is checked first and one problem refuses the whole file
    (nothing written); services are matched on their id, so importing again changes only
    what changed."""
    setup_django()
    from wraparound.apps.referrals.directory import import_services, read_file, validate

    services = read_file(file)
    validate(services, str(file))  # a bad file is refused before the database is touched
    migrate()
    counts = import_services(services, str(file))
    typer.echo(
        f"directory: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )


@app_cli.command()
def serve(
    warehouse: Path = WAREHOUSE,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(
        0, "--workers", min=0, help="gunicorn processes (0: one per core and one more)."
    ),
    threads: int = typer.Option(
        1, "--threads", min=1, help="Threads per process (above 1: gthread, for keep-alive)."
    ),
) -> None:
    """Serve the app with gunicorn (a production server; static files by WhiteNoise). Refuses
    to start on a warehouse it cannot read. Sync workers by default (``web/serving.py``
    says why); behind a buffering proxy on an open network."""
    from wraparound.web.serving import gunicorn_command

    readable_warehouse(warehouse)
    setup_django(warehouse)
    migrate()
    typer.echo(f"Wraparound on http://{host}:{port}/", err=True)
    args = gunicorn_command(f"{host}:{port}", workers=workers or None, threads=threads)
    os.execv(sys.executable, args)


outreach_cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Proactive outreach: cohorts and call lists."
)
app_cli.add_typer(outreach_cli, name="outreach")


@outreach_cli.command("list")
def outreach_list() -> None:
    """List the cohorts in data/outreach/ (id, kind, title)."""
    from wraparound.apps.outreach.cohorts import library

    for cohort in library().values():
        typer.echo(f"{cohort.id:<32} {cohort.kind:<16} {cohort.title}")


@outreach_cli.command("build")
def outreach_build(
    cohort: str = typer.Argument(..., help="A cohort id (`wraparound app outreach list`)."),
    warehouse: Path = WAREHOUSE,
    as_of: str = typer.Option("", "--as-of", help="Build date YYYY-MM-DD (default today)."),
) -> None:
    """Build COHORT over the warehouse (through the engine) and the app's state into a new
    current call list, replacing the previous one (its contact history is kept), with a
    progress bar for each step; prints the counts and seconds as JSON."""
    from wraparound.apps.outreach.cohorts import CohortError, get
    from wraparound.apps.outreach.command import parse_as_of, run_build

    try:
        on = parse_as_of(as_of)
        get(cohort)
    except (ValueError, CohortError) as exc:
        raise typer.BadParameter(str(exc)) from None
    readable_warehouse(warehouse)
    setup_django(warehouse)
    migrate()
    typer.echo(json.dumps(run_build(cohort, warehouse, on), indent=2))


feedback_cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The Friends and Family Test."
)
app_cli.add_typer(feedback_cli, name="feedback")


@feedback_cli.command("offer")
def feedback_offer() -> None:
    """Create the FFT offers due at every touchpoint (data/feedback/fft.toml; at most one per
    event, so running it again adds nothing) and send them through the messaging app."""
    setup_django()
    from wraparound.apps.feedback.offers import make_offers

    migrate()
    typer.echo(json.dumps(make_offers(), indent=2))


messages_cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Messages to patients that fall due."
)
app_cli.add_typer(messages_cli, name="messages")


@messages_cli.command("send-due")
def messages_send_due(
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="A progress bar on stderr (default: on a terminal)."
    ),
) -> None:
    """Send the reminders and feedback offers that have fallen due, each once.

    Appointment reminders by data/portal/reminders.toml (the day before a hub appointment)
    and Friends and Family Test offers after the pathway's touchpoints (data/feedback/fft.toml).
    Nothing is sent twice however often this runs (schedule it hourly); contact preferences
    and refusals are honoured by the messaging app, which records why a message was not sent.
    Prints what was sent, not sent and failed (a failed reminder is tried again next run)."""
    setup_django()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from wraparound.apps.portal.due import count_due, send_due

    migrate()
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with bar:
        task = bar.add_task("appointment reminders", total=count_due())
        result = send_due(advance=lambda: bar.advance(task))
    typer.echo(json.dumps(result, indent=2))
