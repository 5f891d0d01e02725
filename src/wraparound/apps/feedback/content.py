"""The Friends and Family Test as data (``data/feedback/fft.toml``): the question, its six
answers (which count as positive), the free-text questions, the offer's validity and
message template, and the touchpoints. Read once and checked; a malformed file is refused
with the key that is wrong."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass

from wraparound.clinical import package_data_dir

ANSWER_CODES = ("very_good", "good", "neither", "poor", "very_poor", "dont_know")
"""The six FFT answers, in NHS England's order."""
SOURCES = ("access_appointment_seen", "referral_seen", "discharge_alert", "care_plan_reviewed")
"""What the app can watch for a touchpoint (``offers.py`` says how each is found)."""


class ContentError(ValueError):
    """data/feedback/fft.toml is malformed."""


@dataclass(frozen=True)
class Touchpoint:
    code: str
    label: str
    source: str
    within_days: int


@dataclass(frozen=True)
class FreeText:
    code: str
    text: str
    max_length: int


@dataclass(frozen=True)
class Fft:
    version: int
    question: str
    answers: tuple[tuple[str, str], ...]  # (code, label)
    positive: frozenset[str]
    free_text: tuple[FreeText, ...]
    valid_days: int
    template: str
    purpose: str
    touchpoints: dict[str, Touchpoint]

    def answer_label(self, code: str) -> str:
        return dict(self.answers).get(code, code)


def parse(data: dict, where: str = "data/feedback/fft.toml") -> Fft:
    question = (data.get("question") or {}).get("text")
    if not isinstance(question, str) or not question.strip():
        raise ContentError(f"{where}: [question] text is required")
    answers = data.get("answers") or []
    codes = tuple(a.get("code") for a in answers)
    if codes != ANSWER_CODES:
        raise ContentError(
            f"{where}: [[answers]] must be the six FFT answers in order {ANSWER_CODES}"
        )
    for a in answers:
        if not isinstance(a.get("label"), str) or not a["label"]:
            raise ContentError(f"{where}: answer {a['code']!r} needs a label")
    positive = frozenset(a["code"] for a in answers if a.get("positive") is True)
    if positive != {"very_good", "good"}:
        raise ContentError(f"{where}: exactly very_good and good are positive")
    free = []
    for i, f in enumerate(data.get("free_text") or []):
        if not all(isinstance(f.get(k), str) and f[k] for k in ("code", "text")):
            raise ContentError(f"{where}: free_text[{i}] needs code and text")
        n = f.get("max_length", 2000)
        if not isinstance(n, int) or not 1 <= n <= 10_000:
            raise ContentError(f"{where}: free_text[{i}].max_length must be 1 to 10000")
        free.append(FreeText(f["code"], f["text"], n))
    if not free:
        raise ContentError(f"{where}: at least one [[free_text]] question is required")
    offer = data.get("offer") or {}
    days = offer.get("valid_days")
    if not isinstance(days, int) or not 1 <= days <= 90:
        raise ContentError(f"{where}: [offer] valid_days must be 1 to 90")
    for key in ("template", "purpose"):
        if not isinstance(offer.get(key), str) or not offer[key]:
            raise ContentError(f"{where}: [offer] {key} is required")
    touchpoints = {}
    for i, t in enumerate(data.get("touchpoints") or []):
        if t.get("source") not in SOURCES:
            raise ContentError(
                f"{where}: touchpoints[{i}]: unknown source {t.get('source')!r} (known: {SOURCES})"
            )
        within = t.get("within_days")
        if not isinstance(within, int) or within < 1:
            raise ContentError(
                f"{where}: touchpoints[{i}].within_days must be a positive whole number"
            )
        if not t.get("code") or t["code"] in touchpoints:
            raise ContentError(f"{where}: touchpoints[{i}] needs a unique code")
        touchpoints[t["code"]] = Touchpoint(
            t["code"], t.get("label") or t["code"], t["source"], within
        )
    if not touchpoints:
        raise ContentError(f"{where}: at least one [[touchpoints]] entry is required")
    return Fft(
        version=int(data.get("version", 1)),
        question=question.strip(),
        answers=tuple((a["code"], a["label"]) for a in answers),
        positive=positive,
        free_text=tuple(free),
        valid_days=days,
        template=offer["template"],
        purpose=offer["purpose"],
        touchpoints=touchpoints,
    )


@functools.cache
def fft() -> Fft:
    with package_data_dir().joinpath("feedback", "fft.toml").open("rb") as f:
        return parse(tomllib.load(f))
