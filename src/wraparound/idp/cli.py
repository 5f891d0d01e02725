"""``wraparound idp``: the local OpenID Connect provider (NHS login's stand-in)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

idp_cli = typer.Typer(
    help="The local OpenID Connect provider (NHS login's stand-in for the demo and tests).",
    no_args_is_help=True,
)


@idp_cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8001, "--port"),
    seed: Path | None = typer.Option(
        None,
        "--seed",
        help="JSON of clients and accounts to load first (`app demo` writes "
        "WRAPAROUND_VAR/idp-seed.json).",
    ),
) -> None:
    """Serve the provider (its own process, settings and SQLite database) until stopped:
    discovery at /o/.well-known/openid-configuration, private_key_jwt clients only."""
    if seed is not None and not seed.is_file():
        raise typer.BadParameter(f"no seed file at {seed}", param_hint="--seed")
    args = [sys.executable, "-m", "wraparound.idp", "--host", host, "--port", str(port)]
    if seed is not None:
        args += ["--seed", str(seed)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    os.execve(sys.executable, args, env)
