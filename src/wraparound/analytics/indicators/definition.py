"""Indicator definitions: one TOML file per indicator, read into frozen objects and checked.

An indicator is data, like an OpenPrescribing measure: who counts (the denominator), who of
them meets the standard (the numerator), how to show it (type, direction, multiplier) and who
owns it (author, review date). The numerator and denominator are written in a small, closed
language (``docs/indicators.md``): population filters, a handful of conditions over the
warehouse, and events. Anything outside the language is an error naming the file and the
key, raised when the library is loaded, so a typo never silently changes a published figure.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from wraparound import clinical, vocabulary

TYPES = ("proportion", "crude_rate", "dsr", "median", "ratio")
DIRECTIONS = ("higher", "lower", "both")
SOURCES = ("warehouse", "app")
STANDARD_POPULATIONS = ("esp2013",)
# Events an indicator may count that the app records, not the warehouse: ``referral``, a
# referral sent (the referrals app's steps entering ``referred``; ``inputs.app_referrals``),
# with status ``booked`` and the specialty's treatment function.
APP_ENCOUNTER_KINDS = vocabulary.APP_EVENT_KINDS
ENCOUNTER_KINDS = vocabulary.INDICATOR_ENCOUNTER_KINDS
ENCOUNTER_STATUSES = ("attended", "dna", "cancelled", "booked")
MEASURES = ("count", "excess_bed_days", "minutes")
MEDIANS = ("booking_lead_days",)
BREAKDOWNS = ("specialty",)
NEEDS = ("under_5s_same_day", "urgent_2h", "same_day", "within_48h")
"""What a hub appointment's request asked for (apps/access/vocabulary.py; app appointments
only: the warehouse does not record it)."""
RISK_STREAMS = vocabulary.STREAMS
EFI_CATEGORIES = vocabulary.EFI_CATEGORIES
APP_EVENT_KINDS = (
    "named_gp_assigned",
    "care_plan_agreed",
    "care_plan_reviewed",
    "ltc_review",
    "frailty_assessment",
    "annual_health_check",
    "dementia_care_plan_review",
    "letter_expected",
    "letter_within_2_operational_days",
    "triage_request_received",
    "triage_answered_within_2_working_days",
    "advice_requested",
    "advice_answered_in_time",
    "advice_avoided_referral",
    "referral_received",
    "triage_in_time",
)
"""Care-coordination events the app records and exports (``docs/indicators.md``)."""
SURVEYS = ("fft",)
"""Anonymous surveys whose answers an indicator may count (``denominator.responses``): the
Friends and Family Test, exported by the feedback app (``inputs.app_feedback``)."""


@functools.cache
def survey_answers(survey: str) -> tuple[str, ...]:
    """The answer codes of a survey, from its data file (``data/feedback/fft.toml``), so an
    indicator naming an answer the survey does not have is refused when it is loaded."""
    with clinical.package_data_dir().joinpath("feedback", f"{survey}.toml").open("rb") as f:
        return tuple(a["code"] for a in tomllib.load(f)["answers"])


_TOP_KEYS = {
    "id",
    "version",
    "title",
    "description",
    "why_it_matters",
    "type",
    "direction",
    "multiplier",
    "unit",
    "standard_population",
    "tags",
    "author",
    "review_date",
    "source",
    "denominator",
    "numerator",
    "targets",
}
_REQUIRED = (
    "id",
    "version",
    "title",
    "description",
    "why_it_matters",
    "type",
    "direction",
    "multiplier",
    "tags",
    "author",
    "review_date",
    "source",
    "denominator",
    "numerator",
)
_DENOMINATOR_KEYS = {
    "min_age",
    "max_age",
    "registers",
    "risk_streams",
    "efi_categories",
    "events",
    "person_time",
    "responses",
    "where",
}
_NUMERATOR_KEYS = {"where", "events", "measure", "trim_days", "by", "median_of"}
_TARGETS_KEYS = {"reduction_pct", "source"}
_WINDOW_KEYS = ("within_months", "older_than_months", "ever")
_COMPARISONS = ("at_most", "at_least", "below", "above")


class DefinitionError(ValueError):
    """An indicator file breaks the format; the message starts with the file name."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Condition:
    """One condition of the language. ``op`` is the operator (the key that names it),
    ``arg`` its value, ``params`` the rest (window, comparison), ``children`` for ``any``."""

    op: str
    arg: object = None
    params: tuple[tuple[str, object], ...] = ()
    children: tuple[Condition, ...] = ()

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True)
class Events:
    kind: str
    status: tuple[str, ...]
    # Only GP appointments the patient asked to be seen urgently for (true), or did not
    # (false); None: all, recorded or not. GP appointments only.
    urgent_request: bool | None = None
    # Only appointments whose request recorded one of these needs (the app's hub
    # appointments; warehouse appointments record none). Empty: any.
    need: tuple[str, ...] = ()
    # Only appointments at a hub (true) or at a practice (false); None: both.
    hub: bool | None = None
    # Only first outpatient attendances (true) or follow-ups (false); None: both, and an
    # attendance that does not say is neither when it is given. Outpatients only.
    first_attendance: bool | None = None


@dataclass(frozen=True)
class Responses:
    """Answers to an anonymous survey: ``answers`` are the ones counted (the denominator's
    "all responses"; an answer left out, such as "don't know", is in neither count)."""

    survey: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Denominator:
    min_age: int | None = None
    max_age: int | None = None
    registers: tuple[str, ...] = ()
    risk_streams: tuple[str, ...] = ()
    efi_categories: tuple[str, ...] = ()
    events: Events | None = None
    person_time: bool = False
    where: tuple[Condition, ...] = ()
    responses: Responses | None = None

    @property
    def unit(self) -> str:
        """What is counted: ``patients`` (registered at the period end), ``events`` (in the
        period), ``person_time`` (registered person-years in the period) or ``responses``
        (answers to an anonymous survey in the period: not patients, who are never known)."""
        if self.responses is not None:
            return "responses"
        if self.person_time:
            return "person_time"
        return "events" if self.events else "patients"


@dataclass(frozen=True)
class Numerator:
    where: tuple[Condition, ...] = ()
    events: Events | None = None
    measure: str = "count"
    trim_days: int | None = None
    by: str | None = None
    median_of: str | None = None


@dataclass(frozen=True)
class Targets:
    """Planned reductions, by subgroup (treatment function code -> per cent), and where they
    come from. Each is shown against the baseline financial year's value: the target value is
    baseline x (1 - reduction / 100) (``docs/indicators.md``, Targets)."""

    reduction_pct: tuple[tuple[str, float], ...]
    source: str

    def reduction(self, subgroup: str) -> float | None:
        return dict(self.reduction_pct).get(subgroup)


@dataclass(frozen=True)
class Indicator:
    id: str
    version: int
    title: str
    description: str
    why_it_matters: str
    type: str
    direction: str
    multiplier: float
    unit: str
    tags: tuple[str, ...]
    author: str
    review_date: dt.date
    source: str
    denominator: Denominator
    numerator: Numerator
    standard_population: str | None = None
    targets: Targets | None = None
    sha256: str = field(default="", compare=False)

    @property
    def requires(self) -> tuple[str, ...]:
        """Optional inputs beyond the warehouse: ``app_events`` and/or ``risk``."""
        needs = []
        conditions = [*self.denominator.where, *self.numerator.where]
        if any(_uses_app(c) for c in conditions):
            needs.append("app_events")
        if self.denominator.risk_streams or self.denominator.efi_categories:
            needs.append(vocabulary.RISK)
        if any(e is not None and e.need for e in (self.denominator.events, self.numerator.events)):
            needs.append("app_appointments")
        if any(
            e is not None and e.kind in APP_ENCOUNTER_KINDS
            for e in (self.denominator.events, self.numerator.events)
        ):
            needs.append("app_referrals")
        if self.denominator.responses is not None:
            needs.append("app_feedback")
        return tuple(needs)


def _uses_app(condition: Condition) -> bool:
    return condition.op == "app_event" or any(_uses_app(c) for c in condition.children)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


class _Checker:
    """Validation helpers that know which file they are checking."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, problem: str):
        raise DefinitionError(self.path, problem)

    def keys(self, table: dict, allowed: set[str], where: str) -> None:
        if not isinstance(table, dict):
            self.fail(f"{where} must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(
                f"unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))})"
            )

    def choice(self, value, allowed, where: str):
        if value not in allowed:
            self.fail(f"{where} is {value!r}; must be one of {', '.join(map(str, allowed))}")
        return value

    def choices(self, values, allowed, where: str) -> tuple[str, ...]:
        if not isinstance(values, list) or not values:
            self.fail(f"{where} must be a non-empty list")
        return tuple(self.choice(v, allowed, where) for v in values)

    def integer(self, value, where: str, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(f"{where} must be a whole number of at least {minimum}")
        return value

    def text(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{where} must be non-empty text")
        return value.strip()


def parse(text: str, path: str) -> Indicator:
    """One indicator from the text of its file (``path`` names it in errors)."""
    check = _Checker(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        check.fail(f"not valid TOML: {exc}")
    check.keys(raw, _TOP_KEYS, "the file")
    for key in _REQUIRED:
        if key not in raw:
            check.fail(f"missing required key {key!r}")
    ident = check.text(raw["id"], "id")
    stem = Path(path).stem
    if ident != stem:
        check.fail(f"id {ident!r} must match the file name {stem!r}")
    kind = check.choice(raw["type"], TYPES, "type")
    multiplier = raw["multiplier"]
    if not isinstance(multiplier, int | float) or isinstance(multiplier, bool) or multiplier <= 0:
        check.fail("multiplier must be a positive number")
    standard = raw.get("standard_population")
    if kind == "dsr":
        check.choice(standard, STANDARD_POPULATIONS, "standard_population")
    elif standard is not None:
        check.fail("standard_population is only for type = 'dsr'")
    review = raw["review_date"]
    if not isinstance(review, dt.date):
        check.fail("review_date must be a TOML date (YYYY-MM-DD)")
    tags = raw["tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        check.fail("tags must be a list of text")
    denominator = _denominator(check, raw["denominator"])
    numerator = _numerator(check, raw["numerator"], denominator)
    _check_type(check, kind, denominator, numerator)
    targets = _targets(check, raw["targets"], numerator) if "targets" in raw else None
    indicator = Indicator(
        id=ident,
        version=check.integer(raw["version"], "version", 1),
        title=check.text(raw["title"], "title"),
        description=check.text(raw["description"], "description"),
        why_it_matters=check.text(raw["why_it_matters"], "why_it_matters"),
        type=kind,
        direction=check.choice(raw["direction"], DIRECTIONS, "direction"),
        multiplier=float(multiplier),
        unit=str(raw.get("unit", "")),
        tags=tuple(tags),
        author=check.text(raw["author"], "author"),
        review_date=review,
        source=check.choice(raw["source"], SOURCES, "source"),
        denominator=denominator,
        numerator=numerator,
        standard_population=standard,
        targets=targets,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    uses_app = bool(
        {"app_events", "app_appointments", "app_referrals", "app_feedback"}
        & set(indicator.requires)
    )
    if uses_app != (indicator.source == "app"):
        check.fail(
            "source must be 'app' exactly when a condition uses app_event or events filter on need"
        )
    return indicator


def _events(check: _Checker, raw, where: str) -> Events:
    check.keys(raw, {"kind", "status", "urgent_request", "need", "hub", "first_attendance"}, where)
    if "kind" not in raw or "status" not in raw:
        check.fail(f"{where} needs kind and status")
    kind = check.choice(raw["kind"], ENCOUNTER_KINDS, f"{where}.kind")
    urgent = raw.get("urgent_request")
    if urgent is not None:
        if not isinstance(urgent, bool):
            check.fail(f"{where}.urgent_request must be true or false")
        if kind != "gp_appointment":
            check.fail(f"{where}.urgent_request is recorded only for kind = 'gp_appointment'")
    need = check.choices(raw["need"], NEEDS, f"{where}.need") if "need" in raw else ()
    hub = raw.get("hub")
    if hub is not None and not isinstance(hub, bool):
        check.fail(f"{where}.hub must be true or false")
    if (need or hub is not None) and kind != "gp_appointment":
        check.fail(f"{where}.need and hub are recorded only for kind = 'gp_appointment'")
    first = raw.get("first_attendance")
    if first is not None:
        if not isinstance(first, bool):
            check.fail(f"{where}.first_attendance must be true or false")
        if kind != "outpatient":
            check.fail(f"{where}.first_attendance is recorded only for kind = 'outpatient'")
    return Events(
        kind=kind,
        status=check.choices(raw["status"], ENCOUNTER_STATUSES, f"{where}.status"),
        urgent_request=urgent,
        need=need,
        hub=hub,
        first_attendance=first,
    )


def _denominator(check: _Checker, raw) -> Denominator:
    check.keys(raw, _DENOMINATOR_KEYS, "[denominator]")
    registers = {r.register_id for r in clinical.registers()}
    events = _events(check, raw["events"], "denominator.events") if "events" in raw else None
    person_time = raw.get("person_time", False)
    if not isinstance(person_time, bool):
        check.fail("denominator.person_time must be true or false")
    if events and person_time:
        check.fail("denominator has both events and person_time; choose one")
    responses = _responses(check, raw["responses"]) if "responses" in raw else None
    if responses is not None and (set(raw) - {"responses"}):
        check.fail(
            "denominator.responses counts anonymous answers: no events, person_time, ages, "
            "registers, cohorts or where go with it"
        )
    ages = {
        k: check.integer(raw[k], f"denominator.{k}") for k in ("min_age", "max_age") if k in raw
    }
    den = Denominator(
        registers=check.choices(raw["registers"], sorted(registers), "denominator.registers")
        if "registers" in raw
        else (),
        risk_streams=check.choices(raw["risk_streams"], RISK_STREAMS, "denominator.risk_streams")
        if "risk_streams" in raw
        else (),
        efi_categories=check.choices(
            raw["efi_categories"], EFI_CATEGORIES, "denominator.efi_categories"
        )
        if "efi_categories" in raw
        else (),
        events=events,
        person_time=person_time,
        where=_conditions(check, raw.get("where", []), "denominator.where", events is not None),
        responses=responses,
        **ages,
    )
    if den.unit != "patients" and (
        den.registers or den.risk_streams or den.efi_categories or den.where
    ):
        check.fail(
            "registers, risk_streams, efi_categories and where apply only to a "
            "denominator of patients (no events or person_time)"
        )
    return den


def _responses(check: _Checker, raw) -> Responses:
    if not isinstance(raw, dict):
        check.fail("denominator.responses must be a table { survey, answers }")
    check.keys(raw, {"survey", "answers"}, "denominator.responses")
    survey = check.choice(raw.get("survey"), SURVEYS, "denominator.responses.survey")
    if "answers" not in raw:
        check.fail("denominator.responses needs answers (the answers counted)")
    answers = check.choices(raw["answers"], survey_answers(survey), "denominator.responses.answers")
    return Responses(survey, answers)


def _answer_conditions(check: _Checker, raw, den: Denominator) -> tuple[Condition, ...]:
    """A numerator over survey responses: ``[{ answer = [...] }]``, answers among the
    denominator's (a numerator answer outside the denominator would give shares over 100%)."""
    if not isinstance(raw, list) or len(raw) != 1:
        check.fail("numerator.where over responses is one condition: [{ answer = [...] }]")
    cond = raw[0]
    if not isinstance(cond, dict) or set(cond) != {"answer"}:
        check.fail("numerator.where[0]: over responses the only operator is 'answer'")
    answers = check.choices(cond["answer"], den.responses.answers, "numerator.where[0].answer")
    return (Condition("answer", answers),)


def _numerator(check: _Checker, raw, den: Denominator) -> Numerator:
    check.keys(raw, _NUMERATOR_KEYS, "[numerator]")
    if den.unit == "responses":
        if set(raw) - {"where"}:
            check.fail("a numerator over responses has only where = [{ answer = [...] }]")
        return Numerator(where=_answer_conditions(check, raw.get("where"), den))
    events = _events(check, raw["events"], "numerator.events") if "events" in raw else None
    measure = check.choice(raw.get("measure", "count"), MEASURES, "numerator.measure")
    trim = raw.get("trim_days")
    if (measure == "excess_bed_days") != (trim is not None):
        check.fail("numerator.trim_days goes with measure = 'excess_bed_days', and only then")
    if measure == "minutes" and (events is None or events.kind != "gp_appointment"):
        check.fail("numerator.measure = 'minutes' needs numerator.events of kind 'gp_appointment'")
    return Numerator(
        where=_conditions(check, raw.get("where", []), "numerator.where", den.unit == "events"),
        events=events,
        measure=measure,
        trim_days=check.integer(trim, "numerator.trim_days") if trim is not None else None,
        by=check.choice(raw["by"], BREAKDOWNS, "numerator.by") if "by" in raw else None,
        median_of=check.choice(raw["median_of"], MEDIANS, "numerator.median_of")
        if "median_of" in raw
        else None,
    )


def _check_type(check: _Checker, kind: str, den: Denominator, num: Numerator) -> None:
    if kind == "proportion":
        if den.unit == "person_time" or num.events or num.median_of or not num.where:
            check.fail(
                "a proportion counts patients or events of the denominator that meet "
                "numerator.where (no person_time, numerator.events or median_of)"
            )
    elif kind in ("crude_rate", "dsr"):
        if den.unit != "person_time" or not num.events or num.where or num.median_of:
            check.fail(
                f"a {kind} needs denominator.person_time = true and numerator.events "
                "(no numerator.where or median_of)"
            )
    elif kind == "ratio":
        if den.unit != "events" or not num.events or num.where or num.median_of:
            check.fail(
                "a ratio needs denominator.events and numerator.events (events over events; "
                "no person_time, numerator.where or median_of)"
            )
        if num.measure != "count":
            check.fail("a ratio counts events: numerator.measure must be 'count'")
    elif den.unit != "events" or not num.median_of or num.where or num.events:
        check.fail("a median needs denominator.events and numerator.median_of only")
    if kind in ("crude_rate", "dsr") and (
        (den.min_age is not None and den.min_age % 5)
        or (den.max_age is not None and (den.max_age + 1) % 5)
    ):
        check.fail(
            "a rate's min_age and max_age must fall on 5-year bands (min_age 0, 5, "
            "10, ...; max_age 4, 9, 14, ...)"
        )
    if kind == "dsr" and num.by:
        check.fail("numerator.by is not supported for a dsr")
    if num.by and kind not in ("crude_rate", "ratio"):
        check.fail("numerator.by is only for crude rates and ratios")


def _targets(check: _Checker, raw, num: Numerator) -> Targets:
    check.keys(raw, _TARGETS_KEYS, "[targets]")
    if "reduction_pct" not in raw or "source" not in raw:
        check.fail("[targets] needs reduction_pct and source")
    if num.by != "specialty":
        check.fail("[targets] are by specialty: they need numerator.by = 'specialty'")
    table = raw["reduction_pct"]
    if not isinstance(table, dict) or not table:
        check.fail("targets.reduction_pct must be a table of treatment function code = per cent")
    known = clinical.treatment_functions()
    pairs = []
    for code, pct in sorted(table.items()):
        if code not in known:
            check.fail(
                f"targets.reduction_pct: {code!r} is not a treatment function code in "
                "data/treatment_functions.csv"
            )
        if not isinstance(pct, int | float) or isinstance(pct, bool) or not 0 < pct < 100:
            check.fail(f"targets.reduction_pct.{code} must be a per cent above 0 and below 100")
        pairs.append((code, float(pct)))
    return Targets(reduction_pct=tuple(pairs), source=check.text(raw["source"], "targets.source"))


def _conditions(check: _Checker, raw, where: str, on_events: bool) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        check.fail(f"{where} must be a list of conditions")
    return tuple(_condition(check, c, f"{where}[{i}]", on_events) for i, c in enumerate(raw))


def _window(check: _Checker, raw: dict, where: str) -> tuple[tuple[str, object], ...]:
    given = [k for k in _WINDOW_KEYS if k in raw]
    if len(given) != 1:
        check.fail(f"{where} needs exactly one of {', '.join(_WINDOW_KEYS)}")
    key = given[0]
    if key == "ever":
        if raw[key] is not True:
            check.fail(f"{where}.ever must be true")
        return (("ever", True),)
    return ((key, check.integer(raw[key], f"{where}.{key}", 1)),)


def _condition(check: _Checker, raw, where: str, on_events: bool) -> Condition:
    if not isinstance(raw, dict) or not raw:
        check.fail(f"{where} must be a table naming one operator")
    patient_ops = {
        "latest_observation",
        "observation_recorded",
        "medication_issued",
        "app_event",
        "any",
    }
    event_ops = {"status", "booking_lead_days_at_most", "standard_met"}
    ops = [k for k in raw if k in patient_ops | event_ops]
    if len(ops) != 1:
        unknown = sorted(set(raw) - patient_ops - event_ops - set(_WINDOW_KEYS) - set(_COMPARISONS))
        name = unknown[0] if unknown else ", ".join(sorted(raw))
        check.fail(
            f"{where}: unknown operator {name!r} (operators: "
            f"{', '.join(sorted(event_ops if on_events else patient_ops))})"
        )
    op = ops[0]
    if on_events != (op in event_ops):
        allowed = event_ops if on_events else patient_ops
        check.fail(
            f"{where}: operator {op!r} cannot be used here (a denominator of "
            f"{'events' if on_events else 'patients'}: {', '.join(sorted(allowed))})"
        )
    arg = raw[op]
    if op == "any":
        check.keys(raw, {"any"}, where)
        if not isinstance(arg, list) or len(arg) < 2:
            check.fail(f"{where}.any needs a list of at least two conditions")
        return Condition(
            "any",
            children=tuple(
                _condition(check, c, f"{where}.any[{i}]", on_events) for i, c in enumerate(arg)
            ),
        )
    if op == "status":
        check.keys(raw, {"status"}, where)
        return Condition("status", check.choices(arg, ENCOUNTER_STATUSES, f"{where}.status"))
    if op == "standard_met":
        check.keys(raw, {op}, where)
        if arg is not True:
            check.fail(f"{where}.standard_met must be true")
        return Condition(op, True)
    if op == "booking_lead_days_at_most":
        check.keys(raw, {op}, where)
        return Condition(op, check.integer(arg, f"{where}.{op}"))
    if op == "latest_observation":
        check.keys(raw, {op, "within_months", *_COMPARISONS}, where)
        check.choice(arg, sorted(clinical.observation_codes()), f"{where}.{op}")
        comparisons = [k for k in _COMPARISONS if k in raw]
        if len(comparisons) != 1:
            check.fail(f"{where} needs exactly one of {', '.join(_COMPARISONS)}")
        value = raw[comparisons[0]]
        if not isinstance(value, int | float) or isinstance(value, bool):
            check.fail(f"{where}.{comparisons[0]} must be a number")
        if "within_months" not in raw:
            check.fail(f"{where} needs within_months")
        return Condition(
            op,
            arg,
            (*_window(check, raw, where), ("compare", comparisons[0]), ("value", float(value))),
        )
    allowed_windows = set(_WINDOW_KEYS) if op == "app_event" else {"within_months"}
    check.keys(raw, {op, *allowed_windows}, where)
    if op == "observation_recorded":
        check.choice(arg, sorted(clinical.observation_codes()), f"{where}.{op}")
    elif op == "medication_issued":
        check.choice(arg, clinical.codelist_ids(), f"{where}.{op} (a code list id)")
    else:
        check.choice(arg, APP_EVENT_KINDS, f"{where}.{op}")
    return Condition(op, arg, _window(check, raw, where))


# ---------------------------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------------------------


def package_dir() -> Traversable:
    return files("wraparound").joinpath("data").joinpath("indicators")


def load(directory: Traversable | Path | None = None) -> tuple[Indicator, ...]:
    """Every ``*.toml`` in the directory (the packaged library by default), sorted by id."""
    if directory is None:
        return _packaged()
    return _load(directory)


@functools.cache
def _packaged() -> tuple[Indicator, ...]:
    return _load(package_dir())


def _load(directory: Traversable | Path) -> tuple[Indicator, ...]:
    found = sorted(
        (p for p in directory.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name
    )
    if not found:
        raise DefinitionError(str(directory), "no indicator files (*.toml)")
    return tuple(parse(p.read_text(encoding="utf-8"), f"data/indicators/{p.name}") for p in found)
