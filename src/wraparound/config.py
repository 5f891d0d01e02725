"""Every setting Wraparound reads from the environment, in one place.

Each setting is a field of :class:`Settings`, a frozen dataclass, with its variable's name, its
type, its default and what it means (the field's metadata). :func:`current` reads the
environment once and keeps the result; every module that needs a setting asks it, rather than
reading ``os.environ`` itself, so there is one list to read (docs/configuration.md, generated
from :data:`SETTINGS` by :func:`reference`) and one parser per setting.

The result is kept for as long as the variables it was read from are unchanged: a test that
sets one with ``monkeypatch.setenv`` (or ``wraparound app`` naming the warehouse for Django's
settings) gets the new value on the next :func:`current`, and the old one back when the test
restores the environment. :func:`reload` re-reads it outright.

Where a default is unsafe for real patients (the built-in pseudonym key and the development
secret key), ``WRAPAROUND_ENV=production`` refuses it, with one message naming the variable to
set (:meth:`Settings.pseudonym_key_bytes`, :meth:`Settings.django_secret_key`): the CLI prints
that as one line, and Django refuses to start. ``WRAPAROUND_DEBUG`` is refused in production
too: Django's debug pages would show patient data.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The built-in pseudonym key: for synthetic data only, refused in production.
DEMO_PSEUDONYM_KEY = "wraparound-synthetic-demo-key-not-for-real-data"
#: The built-in Django secret key: for the demo only, refused in production.
DEV_SECRET_KEY = "wraparound-development-key-not-for-real-patients"


class ConfigurationError(RuntimeError):
    """A setting that cannot be used: a value of the wrong type, or a default refused in
    production. The message names the variable and is one line."""


class PseudonymKeyError(ConfigurationError):
    """The built-in pseudonym key, refused in production (warehouse/pseudonym.py)."""


class InvalidSettingError(ConfigurationError, ValueError):
    """A variable whose value is not of the setting's type (the CLI answers it as bad input)."""


def _setting(env: str, default, meaning: str, *, kind: str = "text", production: str = ""):
    """A field of :class:`Settings`: ``env`` is the variable, ``kind`` how its value is read
    (text, path, int, float, flag, list), ``production`` what production does about it."""
    metadata = {"env": env, "kind": kind, "meaning": meaning, "production": production}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Wraparound's settings, read from the environment by :func:`from_environ`."""

    env: str = _setting(
        "WRAPAROUND_ENV",
        "",
        "`production` for a deployment with real patients: turns on the HTTPS-only settings "
        "and refuses the built-in keys below. Anything else (or unset) is the demo.",
    )
    debug: bool = _setting(
        "WRAPAROUND_DEBUG",
        False,
        "`1` turns on Django's `DEBUG` (never in production); any value lets a CLI command's "
        "exception through with its traceback instead of one line.",
        kind="flag",
        production="Refused: Django does not start with it set.",
    )
    debug_traceback: bool = _setting(
        "WRAPAROUND_DEBUG",
        False,
        "(the CLI's reading of `WRAPAROUND_DEBUG`: set to anything.)",
        kind="set",
    )
    pseudonym_key: str | None = _setting(
        "WRAPAROUND_PSEUDONYM_KEY",
        None,
        "The secret key of the patients' pseudonyms (HMAC-SHA256). Keep it: a new key gives "
        "every patient a new pseudonym. Unset, a built-in key for synthetic data is used.",
        production="Required: the built-in key is refused.",
    )
    secret_key: str | None = _setting(
        "DJANGO_SECRET_KEY",
        None,
        "Django's secret key (sessions, CSRF). Unset, a development key is used.",
        production="Required: the development key is refused and Django does not start.",
    )
    audit_key: str | None = _setting(
        "WRAPAROUND_AUDIT_KEY",
        None,
        "The key of the audit trail's hash chain. Unset, the secret key. Set it before "
        "rotating the secret key, or `wraparound audit verify` fails on older rows.",
    )
    database_url: str | None = _setting(
        "DATABASE_URL",
        None,
        "The app database, as a URL (`postgres://user:password@host/name`). Unset, SQLite "
        "at `WRAPAROUND_DB`.",
    )
    db: Path | None = _setting(  # noqa: RUF009 (a field: _setting is dataclasses.field)
        "WRAPAROUND_DB",
        None,
        "The SQLite file of the app when `DATABASE_URL` is unset. Default "
        "`WRAPAROUND_VAR/app.sqlite3`.",
        kind="path",
    )
    var: Path = _setting(  # noqa: RUF009 (a field: _setting is dataclasses.field)
        "WRAPAROUND_VAR",
        REPO_ROOT / "var",
        "The folder for the app's files: its SQLite database, static files, the demo.",
        kind="path",
    )
    node_modules: Path = _setting(  # noqa: RUF009 (a field: _setting is dataclasses.field)
        "WRAPAROUND_NODE_MODULES",
        REPO_ROOT / "node_modules",
        "Where npm put the NHS.UK frontend and htmx that the app serves.",
        kind="path",
    )
    allowed_hosts: tuple[str, ...] = _setting(
        "WRAPAROUND_ALLOWED_HOSTS",
        ("127.0.0.1", "localhost"),
        "The host names the app answers to, separated by commas (Django's `ALLOWED_HOSTS`).",
        kind="list",
    )
    warehouse: Path | None = _setting(  # noqa: RUF009 (a field: _setting is dataclasses.field)
        "WRAPAROUND_WAREHOUSE",
        None,
        "The warehouse the app reads from. Default `WRAPAROUND_VAR/demo/warehouse`; "
        "`wraparound app ... --warehouse DIR` sets it.",
        kind="path",
    )
    engine: str = _setting(
        "WRAPAROUND_ENGINE",
        "duckdb",
        "The engine the analytics run on: `duckdb` or `spark` (docs/spark.md).",
    )
    duckdb_memory_limit: str | None = _setting(
        "WRAPAROUND_DUCKDB_MEMORY_LIMIT",
        None,
        "DuckDB's memory limit, as `8GB`. Unset, 4GB (or half the machine's memory, if "
        "less) for the analytics, and 1GB for writers (ingest, merges); DuckDB spills the "
        "rest to `WRAPAROUND_DUCKDB_TEMP_DIRECTORY`.",
    )
    duckdb_temp_directory: str | None = _setting(
        "WRAPAROUND_DUCKDB_TEMP_DIRECTORY",
        None,
        "Where the analytics' DuckDB spills what does not fit in memory. Unset, `.tmp` in the "
        "working directory.",
    )
    threads: int | None = _setting(
        "WRAPAROUND_THREADS",
        None,
        "DuckDB's threads. Unset, every core.",
        kind="int",
    )
    spark_master: str = _setting(
        "WRAPAROUND_SPARK_MASTER",
        "local[*]",
        "The Spark cluster to run on (`spark://host:7077`); by default Spark in this process.",
    )
    spark_partitions: str = _setting(
        "WRAPAROUND_SPARK_PARTITIONS",
        "8",
        "Spark's `spark.sql.shuffle.partitions`.",
    )
    spark_driver_memory: str = _setting(
        "WRAPAROUND_SPARK_DRIVER_MEMORY",
        "4g",
        "Spark's `spark.driver.memory`.",
    )
    spark_max_result_size: str | None = _setting(
        "WRAPAROUND_SPARK_MAX_RESULT_SIZE",
        None,
        "Spark's `spark.driver.maxResultSize` (feature tables are collected to the driver: "
        "about 0.5 GB a million patients). Unset, Spark's default.",
    )
    spark_warehouse_url: str | None = _setting(
        "WRAPAROUND_SPARK_WAREHOUSE_URL",
        None,
        "Where Spark's executors read the warehouse's files (`s3a://bucket/warehouse`); the "
        "driver still follows the manifest through the warehouse's own path.",
    )
    messaging_backend: str = _setting(
        "WRAPAROUND_MESSAGING_BACKEND",
        "outbox",
        "How messages to patients are sent: `outbox` (the demo and tests: each message is "
        "recorded and written as one JSON line under `WRAPAROUND_MESSAGING_OUTBOX`, nothing "
        "leaves the machine) or `notify` (GOV.UK Notify, with `WRAPAROUND_NOTIFY_API_KEY`).",
        production="Set `notify` to reach patients; `outbox` sends nothing.",
    )
    notify_api_key: str | None = _setting(
        "WRAPAROUND_NOTIFY_API_KEY",
        None,
        "The GOV.UK Notify API key of the `notify` backend. Without it the backend refuses "
        "to start; under tests or `WRAPAROUND_DEBUG` it also refuses Notify's real address.",
        production="Required with the `notify` backend.",
    )
    notify_base_url: str = _setting(
        "WRAPAROUND_NOTIFY_BASE_URL",
        "https://api.notifications.service.gov.uk",
        "The Notify API the `notify` backend posts to (a local server in tests).",
    )
    messaging_outbox: Path | None = _setting(  # noqa: RUF009 (a field: _setting is dataclasses.field)
        "WRAPAROUND_MESSAGING_OUTBOX",
        None,
        "The folder the `outbox` backend writes `messages.jsonl` to. Default "
        "`WRAPAROUND_VAR/outbox`.",
        kind="path",
    )
    self_referral_rate_ip: str = _setting(
        "WRAPAROUND_SELF_REFERRAL_RATE_IP",
        "20/h",
        "Self-referrals accepted from one IP address, as `N/s`, `N/m`, `N/h` or `N/d` "
        "(django-ratelimit's rate); more are answered 429.",
    )
    self_referral_rate_identity: str = _setting(
        "WRAPAROUND_SELF_REFERRAL_RATE_IDENTITY",
        "5/d",
        "Self-referrals accepted for one NHS number or one name, date of birth and postcode, "
        "as `WRAPAROUND_SELF_REFERRAL_RATE_IP`.",
    )
    portal_oidc_issuer: str = _setting(
        "WRAPAROUND_PORTAL_OIDC_ISSUER",
        "http://127.0.0.1:8001/o",
        "The patient portal's OpenID Connect provider (NHS login, or the local provider "
        "`wraparound idp serve`): its issuer, whose `/.well-known/openid-configuration` names "
        "the endpoints and keys.",
    )
    portal_oidc_client_id: str = _setting(
        "WRAPAROUND_PORTAL_OIDC_CLIENT_ID",
        "wraparound-portal",
        "The portal's client id at the OpenID Connect provider.",
    )
    portal_oidc_key: Path | None = _setting(  # noqa: RUF009 (a dataclasses.field)
        "WRAPAROUND_PORTAL_OIDC_KEY",
        None,
        "The portal's RSA private key (PEM) that signs its `private_key_jwt` client "
        "assertions; the provider holds the public key (`/portal/jwks.json`). Default "
        "`WRAPAROUND_VAR/portal/client-key.pem`, made on first use.",
        kind="path",
        production="Required: a key made on first use is refused.",
    )
    public_base_url: str = _setting(
        "WRAPAROUND_PUBLIC_BASE_URL",
        "http://127.0.0.1:8000",
        "The app's address as patients reach it (`https://wraparound.example.nhs.uk`, or with "
        "a path prefix): links sent outside the app, which have no page to be relative to (the "
        "Friends and Family Test's one-time link in a text message, the portal in a reminder), "
        "are built on it. An address other than `http(s)://host[:port][/prefix]` is refused.",
        production="Required, and must be `https`: the default and `http` are refused.",
    )
    portal_session_minutes: int = _setting(
        "WRAPAROUND_PORTAL_SESSION_MINUTES",
        20,
        "A patient's portal session ends after this many minutes without a request.",
        kind="int",
    )
    portal_max_appointments: int = _setting(
        "WRAPAROUND_PORTAL_MAX_APPOINTMENTS",
        2,
        "How many future hub appointments a patient may hold at once through the portal.",
        kind="int",
    )
    idp_db: Path | None = _setting(  # noqa: RUF009 (a dataclasses.field)
        "WRAPAROUND_IDP_DB",
        None,
        "The local OpenID Connect provider's SQLite database (demo and tests only). Default "
        "`WRAPAROUND_VAR/idp.sqlite3`.",
        kind="path",
    )
    fault_kill: str | None = _setting(
        "WRAPAROUND_FAULT_KILL",
        None,
        "For crash tests only: kill the process at the named point of a warehouse write.",
    )
    fault_pause: str | None = _setting(
        "WRAPAROUND_FAULT_PAUSE",
        None,
        "For crash tests only: pause at the named point of a warehouse write.",
    )
    fault_seconds: float = _setting(
        "WRAPAROUND_FAULT_SECONDS",
        5.0,
        "For crash tests only: how long `WRAPAROUND_FAULT_PAUSE` pauses, in seconds.",
        kind="float",
    )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def django_debug(self) -> bool:
        """Django's ``DEBUG``, refused in production: a debug page shows settings and data, so a
        deployment asking for it is misconfigured and must not start quietly without it."""
        if self.debug and self.production:
            raise ConfigurationError(
                "WRAPAROUND_DEBUG is refused in production: Django's debug pages show patient data"
            )
        return self.debug

    def pseudonym_key_bytes(self) -> bytes:
        """The pseudonym key; the built-in one is refused in production."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode()
        if self.production:
            raise PseudonymKeyError("WRAPAROUND_PSEUDONYM_KEY must be set in production")
        return DEMO_PSEUDONYM_KEY.encode()

    def django_secret_key(self) -> str:
        """Django's secret key; the development one is refused in production."""
        key = self.secret_key if self.secret_key is not None else DEV_SECRET_KEY
        if self.production and key == DEV_SECRET_KEY:
            raise ConfigurationError(
                "set DJANGO_SECRET_KEY: the development key is refused in production"
            )
        return key

    def public_url(self, path: str = "/") -> str:
        """The absolute address of ``path`` (an app path, ``/feedback/<token>``) on
        ``WRAPAROUND_PUBLIC_BASE_URL``. A message sent by text or email is read outside the
        app, so a relative link in it leads nowhere; and in production a link to patients
        must be HTTPS (a plain-HTTP one-time link can be read on the way), so a deployment
        that left the demo address, or gave an ``http`` one, is refused rather than sending
        links patients cannot use."""
        from urllib.parse import urlsplit

        base = self.public_base_url
        parts = urlsplit(base)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise ConfigurationError(
                "WRAPAROUND_PUBLIC_BASE_URL must be an address like "
                f"https://wraparound.example.nhs.uk, not {base!r}"
            )
        if self.production and parts.scheme != "https":
            raise ConfigurationError(
                f"WRAPAROUND_PUBLIC_BASE_URL must be an https address in production, not {base!r}"
            )
        if not path.startswith("/"):
            raise ValueError(f"an app path starts with '/', not {path!r}")
        return base.rstrip("/") + path

    @property
    def var_dir(self) -> Path:
        return self.var

    @property
    def sqlite_path(self) -> Path:
        return self.db if self.db is not None else self.var / "app.sqlite3"

    @property
    def outbox_dir(self) -> Path:
        return self.messaging_outbox if self.messaging_outbox is not None else self.var / "outbox"

    @property
    def warehouse_dir(self) -> str:
        default = self.var / "demo" / "warehouse"
        return str(self.warehouse if self.warehouse is not None else default)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One documented setting: a variable, its type, its default, and what it means."""

    field: str
    env: str
    kind: str
    default: object
    meaning: str
    production: str


def _describe(f: dataclasses.Field) -> Setting:
    return Setting(
        field=f.name,
        env=f.metadata["env"],
        kind=f.metadata["kind"],
        default=f.default,
        meaning=f.metadata["meaning"],
        production=f.metadata["production"],
    )


#: Every setting, in the order of :class:`Settings` (one row per variable: a variable read two
#: ways, as ``WRAPAROUND_DEBUG`` is, is listed once).
_FIELDS = tuple(_describe(f) for f in dataclasses.fields(Settings))
SETTINGS: tuple[Setting, ...] = tuple(
    s for i, s in enumerate(_FIELDS) if s.env not in {t.env for t in _FIELDS[:i]}
)
#: The names of every variable read.
NAMES: tuple[str, ...] = tuple(s.env for s in SETTINGS)


def _parse(setting: Setting, raw: str):
    kind = setting.kind
    if kind == "text":
        return raw
    if kind == "path":
        return Path(raw)
    if kind == "flag":
        return raw == "1"
    if kind == "set":
        return True
    if kind == "list":
        return tuple(raw.split(","))
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise InvalidSettingError(f"{setting.env} must be {what}, not {raw!r}") from None


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``). An unset or empty variable takes
    the setting's default."""
    environ = os.environ if environ is None else environ
    values = {}
    for s in _FIELDS:
        raw = environ.get(s.env)
        if raw:
            values[s.field] = _parse(s, raw)
    return Settings(**values)


_cache: tuple[tuple, Settings] | None = None


def current() -> Settings:
    """The settings of this process, read once and kept while the variables are unchanged."""
    global _cache
    key = tuple(os.environ.get(name) for name in NAMES)
    if _cache is None or _cache[0] != key:
        _cache = (key, from_environ())
    return _cache[1]


def reload() -> Settings:
    """Read the environment again (tests that change it outside ``monkeypatch``)."""
    global _cache
    _cache = None
    return current()


def _default_text(s: Setting) -> str:
    if s.default is None:
        return "unset"
    if isinstance(s.default, Path):
        try:
            return f"`{s.default.relative_to(REPO_ROOT).as_posix()}` in the checkout"
        except ValueError:
            return f"`{s.default}`"
    if isinstance(s.default, tuple):
        return f"`{','.join(s.default)}`"
    if isinstance(s.default, bool):
        return "off"
    if s.default == "":
        return "unset"
    return f"`{s.default}`"


_KINDS = {
    "text": "text",
    "path": "path",
    "int": "whole number",
    "float": "number",
    "flag": "flag",
    "set": "flag",
    "list": "comma-separated list",
}


def reference() -> str:
    """docs/configuration.md's table of settings, from :data:`SETTINGS` (the docs test
    compares the page with it, so a new setting cannot go undocumented)."""
    lines = [
        "| Variable | Type | Default | Meaning | In production |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        cells = [f"`{s.env}`", _KINDS[s.kind], _default_text(s), s.meaning, s.production or "-"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
