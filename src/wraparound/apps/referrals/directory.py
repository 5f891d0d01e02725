"""The directory of services: import from Open Referral UK-shaped JSON or CSV, search by
need, place and eligibility.

**Import** (``wraparound app directory-import FILE``): every service in the file is read
and checked first (id, name, organisation, sector, taxonomy terms from
``data/directory/taxonomy.toml``, register conditions from ``data/registers.csv``, ages,
sex, routes, opening times, timers, capacity); any problem refuses the whole file with
each problem's service and field (:class:`DirectoryError`), and nothing is written. Then
all are written in one transaction: a service is matched on its id, one whose content is
unchanged is left alone (``source_hash``), so importing the same file twice changes
nothing. Services not in the file are kept. Each new service gets its own
``records.Organisation`` (kind ``service``, id ``SV`` + a hash of the service id): the
organisation its staff's ``User.service`` names.

**Search** (:func:`search`): free text over name, description, organisation and taxonomy
labels (every word must match), a taxonomy term (it and the terms under it), the place
(the locality served, and a postcode district), a route; with a patient, each service is
checked against the patient's record (age, sex, register conditions, neighbourhood) and an
ineligible one says why (:func:`eligibility`).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from wraparound.apps.records.models import Organisation
from wraparound.apps.referrals import rules
from wraparound.apps.referrals.models import CAPACITY, ROUTES, SECTORS, Service
from wraparound.clinical import package_data_dir, registers

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEMO_FILE = "directory/demo_locality.json"
CSV_COLUMNS = (
    "id",
    "name",
    "description",
    "organization_id",
    "organization_name",
    "sector",
    "specialty",
    "taxonomy",
    "locality",
    "areas",
    "location_name",
    "address",
    "postcode",
    "minimum_age",
    "maximum_age",
    "sex",
    "conditions",
    "opening_times",
    "phone",
    "email",
    "url",
    "referral_routes",
    "advice_days",
    "triage_days",
    "provider_may_convert",
    "waiting_weeks",
    "capacity_status",
    "capacity_updated",
)
MAX_ERRORS = 20


class DirectoryError(ValueError):
    """A directory file that cannot be imported; nothing was written."""


@functools.cache
def taxonomy() -> dict[str, str]:
    with package_data_dir().joinpath("directory", "taxonomy.toml").open("rb") as f:
        terms = tomllib.load(f).get("terms") or {}
    for code in terms:
        parent = code.rpartition("/")[0]
        if parent and parent not in terms:
            raise rules.RulesError(f"taxonomy.toml: {code!r} has no parent term {parent!r}")
    return dict(terms)


@functools.cache
def register_names() -> dict[str, str]:
    """register id -> name (what ``Patient.conditions`` holds)."""
    return {r.register_id: r.name for r in registers()}


def org_id_for(service_id: str) -> str:
    return "SV" + hashlib.sha256(service_id.encode()).hexdigest()[:12].upper()


# ---------------------------------------------------------------------------------------
# Reading


def read_file(path: Path) -> list[dict]:
    """The file's services as ORUK-shaped dicts (JSON: ``{"services": [...]}`` or a list;
    CSV: one row per service, ``CSV_COLUMNS``)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DirectoryError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    if str(path).lower().endswith(".csv"):
        return from_csv(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    services = data.get("services") if isinstance(data, dict) else data
    if not isinstance(services, list):
        raise DirectoryError(f"{path}: expected a list of services or {{'services': [...]}}")
    return services


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _hours_from_text(text: str) -> list[dict]:
    """``monday 08:00-18:00; saturday 09:00-12:00`` or ``monday-friday 08:00-18:00``."""
    out = []
    for part in _split(text):
        days, _, span = part.partition(" ")
        opens, _, closes = span.strip().partition("-")
        first, _, last = days.lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            out.append({"weekday": days, "opens_at": opens, "closes_at": closes})
            continue
        i, j = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        for day in WEEKDAYS[i : j + 1]:
            out.append({"weekday": day, "opens_at": opens, "closes_at": closes})
    return out


def from_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("id", "name", "organization_name") if c not in (reader.fieldnames or [])]
    if missing:
        raise DirectoryError(
            f"CSV needs the columns {', '.join(missing)} (and may have {', '.join(CSV_COLUMNS)})"
        )
    unknown = [c for c in reader.fieldnames or [] if c not in CSV_COLUMNS]
    if unknown:
        raise DirectoryError(f"CSV has unknown columns: {', '.join(unknown)}")
    out = []
    for row in reader:
        r = {k: (v or "").strip() for k, v in row.items() if k}
        out.append(
            {
                "id": r.get("id", ""),
                "name": r.get("name", ""),
                "description": r.get("description", ""),
                "organization": {
                    "id": r.get("organization_id", ""),
                    "name": r.get("organization_name", ""),
                },
                "sector": r.get("sector", ""),
                "specialty": r.get("specialty", ""),
                "service_taxonomys": [
                    {"taxonomy": {"id": t}} for t in _split(r.get("taxonomy", ""))
                ],
                "service_areas": [
                    {"service_area": r.get("locality", ""), "extent": _split(r.get("areas", ""))}
                ],
                "service_at_locations": [
                    {
                        "location": {
                            "name": r.get("location_name", ""),
                            "postal_address": [
                                {
                                    "address_1": r.get("address", ""),
                                    "postal_code": r.get("postcode", ""),
                                }
                            ],
                        }
                    }
                ]
                if r.get("location_name")
                else [],
                "eligibilitys": [
                    {
                        "minimum_age": r.get("minimum_age") or None,
                        "maximum_age": r.get("maximum_age") or None,
                        "sex": r.get("sex", ""),
                        "conditions": _split(r.get("conditions", "")),
                    }
                ],
                "regular_schedules": _hours_from_text(r.get("opening_times", "")),
                "contacts": [{"phones": [{"number": r["phone"]}]}] if r.get("phone") else [],
                "email": r.get("email", ""),
                "url": r.get("url", ""),
                "referral_routes": _split(r.get("referral_routes", "")),
                "advice_days": r.get("advice_days") or None,
                "triage_days": r.get("triage_days") or None,
                "provider_may_convert": r.get("provider_may_convert", "").lower()
                in ("true", "yes", "1"),
                "waiting_weeks": r.get("waiting_weeks") or None,
                "capacity_status": r.get("capacity_status") or "open",
                "capacity_updated": r.get("capacity_updated") or None,
            }
        )
    return out


# ---------------------------------------------------------------------------------------
# Checking


def _int(value, field: str, problems: list[str], low: int = 0, high: int = 130):
    if value in (None, ""):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        problems.append(f"{field} must be a whole number, not {value!r}")
        return None
    if (isinstance(value, float) and value != n) or not low <= n <= high:
        problems.append(f"{field} must be a whole number from {low} to {high}")
        return None
    return n


def _time(value, field: str, problems: list[str]) -> str:
    try:
        return dt.time.fromisoformat(str(value)).isoformat("minutes")
    except ValueError:
        problems.append(f"{field}: {value!r} is not a time (HH:MM)")
        return ""


def check(raw: dict) -> tuple[dict, list[str]]:
    """One service's fields for the model, and its problems."""
    p: list[str] = []
    if not isinstance(raw, dict):
        return {}, ["a service must be an object"]
    sid = str(raw.get("id") or "").strip()
    if not sid or len(sid) > 64:
        p.append("id is required (at most 64 characters)")
    name = str(raw.get("name") or "").strip()
    if not name or len(name) > 200:
        p.append("name is required (at most 200 characters)")
    org = raw.get("organization") or {}
    org_name = str(org.get("name") or "").strip() if isinstance(org, dict) else ""
    if not org_name:
        p.append("organization.name is required")
    sector = raw.get("sector") or ""
    if sector not in dict(SECTORS):
        p.append(f"sector must be one of {', '.join(dict(SECTORS))}")
    specialty = raw.get("specialty") or ""
    if specialty and specialty not in rules.pathways():
        p.append(f"specialty {specialty!r} has no pathway in data/referrals/pathways.toml")
    terms = [
        ((t or {}).get("taxonomy") or {}).get("id", "") for t in raw.get("service_taxonomys") or []
    ]
    for t in terms:
        if t not in taxonomy():
            p.append(f"taxonomy term {t!r} is not in data/directory/taxonomy.toml")
    areas = raw.get("service_areas") or [{}]
    locality = str((areas[0] or {}).get("service_area") or "").strip()
    if not locality:
        p.append("service_areas[0].service_area (the locality served) is required")
    extent = [str(a) for a in (areas[0] or {}).get("extent") or []]
    loc = ((raw.get("service_at_locations") or [{}])[0] or {}).get("location") or {}
    address = (loc.get("postal_address") or [{}])[0] or {}
    elig = (raw.get("eligibilitys") or [{}])[0] or {}
    min_age = _int(elig.get("minimum_age"), "minimum_age", p)
    max_age = _int(elig.get("maximum_age"), "maximum_age", p)
    if min_age is not None and max_age is not None and max_age < min_age:
        p.append("maximum_age is below minimum_age")
    sex = elig.get("sex") or ""
    if sex not in ("", "female", "male"):
        p.append("sex must be female, male or empty (anyone)")
    conditions = list(elig.get("conditions") or [])
    for c in conditions:
        if c not in register_names():
            p.append(f"condition {c!r} is not a register id in data/registers.csv")
    hours = []
    for i, h in enumerate(raw.get("regular_schedules") or []):
        day = str((h or {}).get("weekday", "")).lower()
        if day not in WEEKDAYS:
            p.append(f"regular_schedules[{i}].weekday {day!r} is not a day of the week")
            continue
        opens = _time(h.get("opens_at"), f"regular_schedules[{i}].opens_at", p)
        closes = _time(h.get("closes_at"), f"regular_schedules[{i}].closes_at", p)
        if opens and closes and closes <= opens:
            p.append(f"regular_schedules[{i}]: closes before it opens")
        hours.append({"weekday": day, "opens": opens, "closes": closes})
    routes = list(raw.get("referral_routes") or [])
    if not routes or set(routes) - set(ROUTES):
        p.append(f"referral_routes must list some of {', '.join(ROUTES)}")
    capacity = raw.get("capacity_status") or "open"
    if capacity not in dict(CAPACITY):
        p.append(f"capacity_status must be one of {', '.join(dict(CAPACITY))}")
    updated = raw.get("capacity_updated")
    status_updated = None
    if updated:
        try:
            status_updated = dt.datetime.fromisoformat(str(updated))
            if timezone.is_naive(status_updated):
                p.append("capacity_updated needs a time zone (e.g. +00:00)")
        except ValueError:
            p.append(f"capacity_updated {updated!r} is not an ISO 8601 date and time")
    phones = [
        ph.get("number", "")
        for c in raw.get("contacts") or []
        for ph in (c or {}).get("phones") or []
    ]
    fields = {
        "service_id": sid,
        "name": name,
        "description": str(raw.get("description") or ""),
        "organisation_name": org_name,
        "organisation_id": str(org.get("id") or "") if isinstance(org, dict) else "",
        "sector": sector,
        "specialty": specialty,
        "taxonomy": terms,
        "locality": locality,
        "areas": extent,
        "location_name": str(loc.get("name") or ""),
        "address": str(address.get("address_1") or ""),
        "postcode": str(address.get("postal_code") or "").upper()[:10],
        "min_age": min_age,
        "max_age": max_age,
        "sex": sex,
        "conditions": conditions,
        "opening_times": hours,
        "contact": {
            "phone": phones[0] if phones else "",
            "email": raw.get("email") or "",
            "url": raw.get("url") or "",
        },
        "routes": routes,
        "advice_days": _int(raw.get("advice_days"), "advice_days", p, 0, 60),
        "triage_days": _int(raw.get("triage_days"), "triage_days", p, 0, 60),
        "provider_may_convert": bool(raw.get("provider_may_convert")),
        "waiting_weeks": _int(raw.get("waiting_weeks"), "waiting_weeks", p, 0, 104),
        "capacity": capacity,
        "status_updated": status_updated,
    }
    if "advice_and_guidance" in routes and fields["advice_days"] is None:
        fields["advice_days"] = rules.limits()["timers"]["advice_days"]
    words = [
        name,
        fields["description"],
        org_name,
        locality,
        *(taxonomy().get(t, "") for t in terms),
    ]
    if specialty:
        words.append(rules.pathways()[specialty].label)
    fields["search_text"] = " ".join(words).lower()
    return fields, p


def _hash(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def validate(raws: list[dict], source: str = "file") -> list[dict]:
    """Every service's fields, or :class:`DirectoryError` naming every problem (no database
    needed: the command checks the file before it touches the database)."""
    checked, problems, seen = [], [], set()
    for i, raw in enumerate(raws):
        fields, p = check(raw)
        label = f"service {i + 1}" + (
            f" ({fields['service_id']})" if fields.get("service_id") else ""
        )
        if fields.get("service_id") in seen:
            p.append("the same id appears twice in the file")
        seen.add(fields.get("service_id"))
        problems.extend(f"{source}: {label}: {m}" for m in p)
        checked.append(fields)
    if not raws:
        problems.append(f"{source}: no services in the file")
    if problems:
        more = len(problems) - MAX_ERRORS
        raise DirectoryError(
            "nothing imported:\n  "
            + "\n  ".join(problems[:MAX_ERRORS])
            + (f"\n  and {more} more" if more > 0 else "")
        )
    return checked


def import_services(raws: list[dict], source: str = "file") -> dict[str, int]:
    """All or nothing; idempotent. Returns how many were created, updated and unchanged."""
    checked = validate(raws, source)
    seen = {f["service_id"] for f in checked}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    existing = {s.service_id: s for s in Service.objects.filter(service_id__in=seen)}
    with transaction.atomic():
        for fields in checked:
            digest = _hash(fields)
            service = existing.get(fields["service_id"])
            if service is not None and service.source_hash == digest:
                counts["unchanged"] += 1
                continue
            org, _ = Organisation.objects.update_or_create(
                org_id=org_id_for(fields["service_id"]),
                defaults={"name": fields["name"][:200], "kind": "service"},
            )
            if service is None:
                Service.objects.create(org=org, source_hash=digest, **fields)
                counts["created"] += 1
            else:
                for key, value in fields.items():
                    setattr(service, key, value)
                service.source_hash = digest
                service.save()
                counts["updated"] += 1
    _cache.clear()
    return counts


def import_file(path: Path) -> dict[str, int]:
    return import_services(read_file(path), source=str(path))


def import_demo() -> dict[str, int]:
    path = package_data_dir().joinpath(DEMO_FILE)
    data = json.loads(path.read_text(encoding="utf-8"))
    return import_services(data["services"], source=DEMO_FILE)


# ---------------------------------------------------------------------------------------
# Eligibility and search


def age_on(birth: dt.date | None, today: dt.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def eligibility(service: Service, patient, today: dt.date | None = None) -> list[str]:
    """Why ``patient`` is not eligible for ``service`` (empty: eligible), from the record:
    age, sex, register conditions and neighbourhood."""
    today = today or timezone.localdate()
    why = []
    age = age_on(patient.birth_date, today)
    if service.min_age is not None and (age is None or age < service.min_age):
        why.append(
            f"for people aged {service.min_age} and over"
            + (f" (the patient is {age})" if age is not None else "")
        )
    if service.max_age is not None and (age is None or age > service.max_age):
        why.append(
            f"for people aged {service.max_age} and under"
            + (f" (the patient is {age})" if age is not None else "")
        )
    if service.sex and patient.sex != service.sex:
        why.append(f"for {service.sex} patients only")
    if service.conditions:
        names = register_names()
        wanted = {names[c] for c in service.conditions if c in names}
        if not wanted & set(patient.conditions or ()):
            listed = " or ".join(sorted(names.get(c, c) for c in service.conditions))
            why.append(f"for people on the {listed} register")
    if (
        service.areas
        and patient.neighbourhood_id not in service.areas
        and (patient.practice_id not in service.areas)
    ):
        why.append("the patient's neighbourhood is outside the service's area")
    return why


@dataclass
class Hit:
    service: Service
    why_not: list[str]

    @property
    def eligible(self) -> bool:
        return not self.why_not


_cache: dict[str, object] = {}


def _all() -> list[Service]:
    """Every service, read once per process and after each import (the directory is small
    and changes only by import)."""
    stamp = tuple(Service.objects.aggregate(n=Count("pk"), at=Max("imported_at")).values())
    if _cache.get("stamp") != stamp:
        _cache["services"] = list(Service.objects.order_by("name", "pk"))
        _cache["stamp"] = stamp
    return _cache["services"]


def localities() -> list[str]:
    return sorted({s.locality for s in _all()})


def search(
    text: str = "",
    term: str = "",
    locality: str = "",
    postcode: str = "",
    route: str = "",
    patient=None,
    eligible_only: bool = False,
    today: dt.date | None = None,
) -> list[Hit]:
    words = text.lower().split()
    district = postcode.upper().split()[0] if postcode.strip() else ""
    hits = []
    for s in _all():
        if locality and s.locality != locality:
            continue
        if term and not any(t == term or t.startswith(term + "/") for t in s.taxonomy):
            continue
        if route and route not in s.routes:
            continue
        if district and not s.postcode.startswith(district + " ") and s.postcode != district:
            continue
        if words and not all(w in s.search_text for w in words):
            continue
        why = eligibility(s, patient, today) if patient is not None else []
        if eligible_only and why:
            continue
        hits.append(Hit(s, why))
    hits.sort(key=lambda h: (not h.eligible, h.service.name))
    return hits
