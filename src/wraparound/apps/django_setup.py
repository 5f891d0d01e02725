"""Start Django for a command and bring its database up to date.

Both command groups (``app ...`` in ``apps/cli.py`` and ``audit ...`` in
``apps/audit_cli.py``) need this and nothing else from each other, so it lives here, below
both: neither command module imports the other, and none imports the top-level
``wraparound.cli``, which imports them to register their groups (the layers are in
``.importlinter``).
"""

from __future__ import annotations

import os
from pathlib import Path


def setup_django(warehouse: Path | None = None) -> None:
    if warehouse is not None:
        os.environ["WRAPAROUND_WAREHOUSE"] = str(Path(warehouse).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wraparound.web.settings")
    import django

    django.setup()


def migrate() -> None:
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
