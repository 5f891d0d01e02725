"""Break-glass rules: the reasons to choose from, what counts as a meaningful free-text
reason, how long the access lasts, and the auditor's sign-off choices, all read from
``data/break_glass_reasons.toml``. The views (``records/views.py``) call these; nothing here
touches a request."""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from dataclasses import dataclass

from django.utils import timezone

from wraparound.apps.records.models import BreakGlass
from wraparound.clinical import package_data_dir

RULES_FILE = "break_glass_reasons.toml"
WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Rules:
    version: str
    minutes: int
    min_characters: int
    min_words: int
    min_distinct_letters: int
    reasons: dict[str, str]  # code -> label, in the file's order
    review_outcomes: dict[str, str]


@functools.cache
def rules() -> Rules:
    with package_data_dir().joinpath(RULES_FILE).open("rb") as f:
        data = tomllib.load(f)
    detail = data["detail"]
    reasons = {r["code"]: r["label"] for r in data["reason"]}
    outcomes = {r["code"]: r["label"] for r in data["review_outcome"]}
    if not reasons or not outcomes or int(data["minutes"]) <= 0:
        raise ValueError(f"{RULES_FILE}: needs reasons, review outcomes and minutes > 0")
    return Rules(
        str(data.get("version", "")),
        int(data["minutes"]),
        int(detail["min_characters"]),
        int(detail["min_words"]),
        int(detail["min_distinct_letters"]),
        reasons,
        outcomes,
    )


def check_reason(code: str, detail: str) -> dict[str, str]:
    """The problem with each field of a break-glass request (empty if none)."""
    r = rules()
    errors = {}
    if code not in r.reasons:
        errors["reason_code"] = "Choose the reason for emergency access"
    words = WORD.findall(detail)
    letters = {c.lower() for c in detail if c.isalpha()}
    if (
        len(detail) < r.min_characters
        or len(words) < r.min_words
        or len(letters) < r.min_distinct_letters
    ):
        errors["reason"] = (
            f"Describe why you need access now, in at least {r.min_words} words "
            f"and {r.min_characters} characters"
        )
    return errors


def grant(user, patient, code: str, detail: str) -> BreakGlass:
    return BreakGlass.objects.create(
        user=user,
        patient=patient,
        reason_code=code,
        reason=detail,
        expires_at=timezone.now() + dt.timedelta(minutes=rules().minutes),
    )


def review_queue():
    """Break-glass events awaiting the auditor's sign-off, oldest first."""
    return (
        BreakGlass.objects.filter(reviewed_at=None)
        .select_related("user", "patient")
        .order_by("at", "id")
    )


def recently_reviewed(limit: int = 50):
    return (
        BreakGlass.objects.exclude(reviewed_at=None)
        .select_related("user", "patient", "reviewed_by")
        .order_by("-reviewed_at", "-id")[:limit]
    )


def sign_off(grant: BreakGlass, auditor, outcome: str, note: str) -> None:
    grant.reviewed_by = auditor
    grant.reviewed_at = timezone.now()
    grant.review_outcome = outcome
    grant.review_note = note
    grant.save(update_fields=["reviewed_by", "reviewed_at", "review_outcome", "review_note"])
