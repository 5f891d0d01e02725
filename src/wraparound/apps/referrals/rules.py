"""The referrals app's data files (``data/referrals/``), read once and checked: the state
machine (``transitions.toml``), the reasons a step must give (``reasons.toml``), the
best-practice pathways per specialty (``pathways.toml``) and the limits (``rules.toml``).
A malformed file is refused with the key that is wrong (``RulesError``), never half-used.

The machine is checked against the relationships policy: a state's ``relationship`` must be
a kind in ``data/relationships.toml``, so a state cannot grant what nobody has said the
actions of.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field

from wraparound.apps.records.relationships import policy
from wraparound.clinical import package_data_dir

BY = ("referrer", "provider", "system")
TIMERS = ("advice", "triage")
NEEDS = ("reason", "message", "letter", "service")
GUARDS = ("red_flag_or_no_advice", "provider_may_convert", "service_takes_advice")
TASK_STATUSES = (
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
)


class RulesError(ValueError):
    """A data file under data/referrals/ is malformed."""


def _load(name: str) -> dict:
    with package_data_dir().joinpath("referrals", name).open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class State:
    code: str
    label: str
    open: bool
    task_status: str
    timer: str = ""
    relationship: str = ""
    waiting_on: str = ""


@dataclass(frozen=True)
class Transition:
    code: str
    label: str
    sources: tuple[str, ...]
    to: str
    by: str
    guard: str = ""
    needs: tuple[str, ...] = ()
    auto: bool = False
    creates: str = ""  # the state a new item (to the named service) starts in, or ""


@dataclass(frozen=True)
class Machine:
    code: str
    initial: str
    states: dict[str, State]
    transitions: tuple[Transition, ...] = field(default=())

    def state(self, code: str) -> State:
        return self.states[code]

    def open_states(self) -> tuple[str, ...]:
        return tuple(c for c, s in self.states.items() if s.open)

    def leaving(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.sources]

    def transition(self, code: str) -> Transition | None:
        return next((t for t in self.transitions if t.code == code), None)


def parse_machines(data: dict, kinds: set[str] | None = None) -> dict[str, Machine]:
    """Check and build the machines; ``kinds`` are the relationship kinds a state may name
    (the policy's, by default)."""
    kinds = set(policy().kinds) if kinds is None else kinds
    machines = {}
    raw = data.get("machine") or {}
    if not raw:
        raise RulesError("transitions.toml needs at least one [machine.*]")
    for code, spec in raw.items():
        where = f"[machine.{code}]"
        states = {}
        for s_code, s in (spec.get("state") or {}).items():
            w = f"{where} state {s_code!r}"
            if not isinstance(s.get("label"), str) or not isinstance(s.get("open"), bool):
                raise RulesError(f"{w}: needs a label and open = true or false")
            if s.get("task_status") not in TASK_STATUSES:
                raise RulesError(f"{w}: task_status must be a FHIR Task status")
            if s.get("timer", "") not in ("", *TIMERS):
                raise RulesError(f"{w}: timer must be one of {TIMERS}")
            rel = s.get("relationship", "")
            if rel and rel not in kinds:
                raise RulesError(f"{w}: relationship {rel!r} is not a kind in relationships.toml")
            if rel and not s["open"]:
                raise RulesError(f"{w}: a closed state can hold no relationship")
            if s.get("waiting_on", "") not in ("", "referrer", "provider"):
                raise RulesError(f"{w}: waiting_on must be referrer or provider")
            states[s_code] = State(
                s_code,
                s["label"],
                s["open"],
                s["task_status"],
                s.get("timer", ""),
                rel,
                s.get("waiting_on", ""),
            )
        if spec.get("initial") not in states:
            raise RulesError(f"{where}: initial must be one of its states")
        transitions = []
        seen = set()
        for t in spec.get("transition") or []:
            w = f"{where} transition {t.get('code')!r}"
            if not t.get("code") or not t.get("label") or t["code"] in seen:
                raise RulesError(f"{w}: needs a unique code and a label")
            seen.add(t["code"])
            sources = t.get("from") or []
            if not sources or set(sources) - set(states) or t.get("to") not in states:
                raise RulesError(f"{w}: from and to must name its machine's states")
            if t.get("by") not in BY:
                raise RulesError(f"{w}: by must be one of {BY}")
            if t.get("guard", "") not in ("", *GUARDS):
                raise RulesError(f"{w}: unknown guard {t.get('guard')!r}")
            needs = tuple(t.get("needs") or ())
            if set(needs) - set(NEEDS):
                raise RulesError(f"{w}: needs must be from {NEEDS}")
            if any(not states[s].open for s in sources):
                raise RulesError(f"{w}: a closed state has no way out")
            auto = bool(t.get("auto", False))
            if auto != (t["by"] == "system"):
                raise RulesError(f"{w}: by = system and auto = true go together")
            creates = t.get("creates", "")
            if creates and creates not in states:
                raise RulesError(f"{w}: creates must name one of its machine's states")
            if bool(creates) != ("service" in needs):
                raise RulesError(
                    f"{w}: creates (the new item's state) and needs service go together"
                )
            transitions.append(
                Transition(
                    t["code"],
                    t["label"],
                    tuple(sources),
                    t["to"],
                    t["by"],
                    t.get("guard", ""),
                    needs,
                    auto,
                    creates,
                )
            )
        for s in states.values():
            if s.open and not any(s.code in t.sources for t in transitions):
                raise RulesError(f"{where} state {s.code!r}: open, but no transition leaves it")
        machines[code] = Machine(code, spec["initial"], states, tuple(transitions))
    return machines


@functools.cache
def machines() -> dict[str, Machine]:
    return parse_machines(_load("transitions.toml"))


def machine(code: str) -> Machine:
    return machines()[code]


@functools.cache
def reasons() -> dict[str, dict[str, str]]:
    """transition code -> {reason code: plain words}; every transition that needs a reason
    has some."""
    data = {k: v for k, v in _load("reasons.toml").items() if isinstance(v, dict)}
    for m in machines().values():
        for t in m.transitions:
            if "reason" in t.needs and not data.get(t.code):
                raise RulesError(f"reasons.toml: [{t.code}] needs at least one reason")
    return data


@dataclass(frozen=True)
class Pathway:
    code: str
    label: str
    treatment_function: str
    send: tuple[str, ...]
    try_first: tuple[str, ...]
    when_to_refer: tuple[str, ...]
    red_flags: tuple[str, ...]


@functools.cache
def pathways() -> dict[str, Pathway]:
    data = _load("pathways.toml")
    out = {}
    for code, p in (data.get("specialty") or {}).items():
        if not isinstance(p.get("label"), str):
            raise RulesError(f"pathways.toml [specialty.{code}]: needs a label")
        lists = {}
        for key in ("send", "try_first", "when_to_refer", "red_flags"):
            value = p.get(key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RulesError(f"pathways.toml [specialty.{code}]: {key} must be a list")
            lists[key] = tuple(value)
        out[code] = Pathway(code, p["label"], str(p.get("treatment_function", "")), **lists)
    if not out:
        raise RulesError("pathways.toml: no [specialty.*]")
    return out


@functools.cache
def limits() -> dict:
    data = _load("rules.toml")
    att = data.get("attachments") or {}
    if not isinstance(att.get("max_bytes"), int) or att["max_bytes"] <= 0:
        raise RulesError("rules.toml [attachments] max_bytes must be a positive whole number")
    if not isinstance(att.get("types"), dict) or not att["types"]:
        raise RulesError("rules.toml [attachments] types must map extensions to content types")
    timers = data.get("timers") or {}
    for key in ("advice_days", "triage_days"):
        if not isinstance(timers.get(key), int) or timers[key] < 0:
            raise RulesError(f"rules.toml [timers] {key} must be a whole number of days")
    page = (data.get("worklist") or {}).get("page", 50)
    return {"attachments": att, "timers": timers, "page": int(page)}
