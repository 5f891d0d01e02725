"""The self-referral forms, their questions and red-flag rules, and the what-to-do-now advice
(``data/self_referral/*.toml``), read once and checked; and the screening of answers.

A red flag fires when the answer to its question is one of ``answers`` or, for a text
question, contains one of ``keywords`` (case-insensitive). The request's urgency is the
highest urgency of the flags that fired (``emergency`` > ``urgent`` > ``routine``), and the
advice is the fired flag's of that urgency (the first in the file), or ``routine``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass

from wraparound.clinical import package_data_dir

URGENCIES = ("emergency", "urgent", "routine")  # most urgent first
KINDS = ("choice", "yesno", "text")
CARDS = ("non-urgent", "urgent", "emergency")
_ID = re.compile(r"^[a-z0-9_]+$")


class RulesError(ValueError):
    """A file under data/self_referral/ is malformed (the message names file and key)."""


@dataclass(frozen=True)
class Question:
    id: str
    label: str
    kind: str
    required: bool
    options: tuple[str, ...] = ()
    hint: str = ""
    max_length: int = 1000


@dataclass(frozen=True)
class RedFlag:
    id: str
    label: str
    question: str
    urgency: str
    advice: str
    answers: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def fires(self, answers: dict) -> bool:
        value = str(answers.get(self.question, "") or "").strip().lower()
        if not value:
            return False
        if self.answers and value in self.answers:
            return True
        return any(k in value for k in self.keywords)


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    title: str
    service: str
    intro: str
    what_next: str
    public: bool
    questions: tuple[Question, ...]
    red_flags: tuple[RedFlag, ...]


@dataclass(frozen=True)
class Advice:
    urgency: str
    card: str
    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Screen:
    """The outcome of screening: the urgency, the flags that fired, the advice to show."""

    urgency: str
    flags: tuple[RedFlag, ...]
    advice: Advice

    @property
    def red_flag(self) -> bool:
        return bool(self.flags)


def _read(name: str) -> dict:
    with package_data_dir().joinpath("self_referral", name).open("rb") as f:
        return tomllib.load(f)


def parse_advice(data: dict, where: str = "advice.toml") -> dict[str, Advice]:
    out = {}
    for key, a in data.items():
        if key == "version":
            continue
        if not isinstance(a, dict) or a.get("card") not in CARDS or not a.get("heading"):
            raise RulesError(f"{where} [{key}]: needs card ({', '.join(CARDS)}) and heading")
        lines = a.get("lines") or []
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise RulesError(f"{where} [{key}]: lines must be a list of text")
        out[key] = Advice(key, a["card"], a["heading"], tuple(lines))
    if "routine" not in out:
        raise RulesError(f"{where}: needs a [routine] table")
    return out


def parse_form(data: dict, advice: dict[str, Advice], where: str) -> Form:
    for key in ("id", "title", "service", "what_next"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RulesError(f"{where}: {key} is required")
    questions = []
    for i, q in enumerate(data.get("questions") or []):
        at = f"{where} questions[{i}]"
        if not _ID.match(str(q.get("id", ""))) or not q.get("label"):
            raise RulesError(f"{at}: needs a lower-case id and a label")
        if q.get("kind") not in KINDS:
            raise RulesError(f"{at}: kind must be one of {', '.join(KINDS)}")
        options = tuple(q.get("options") or ())
        if q["kind"] == "choice" and not options:
            raise RulesError(f"{at}: a choice needs options")
        questions.append(
            Question(
                q["id"],
                q["label"],
                q["kind"],
                bool(q.get("required", False)),
                options,
                q.get("hint", ""),
                int(q.get("max_length", 1000)),
            )
        )
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise RulesError(f"{where}: two questions share an id")
    flags = []
    for i, r in enumerate(data.get("red_flags") or []):
        at = f"{where} red_flags[{i}]"
        if r.get("question") not in ids:
            raise RulesError(f"{at}: question {r.get('question')!r} is not a question of the form")
        if r.get("urgency") not in URGENCIES[:2]:
            raise RulesError(f"{at}: urgency must be emergency or urgent")
        if r.get("advice") not in advice:
            raise RulesError(f"{at}: advice {r.get('advice')!r} is not in advice.toml")
        answers = tuple(str(a).lower() for a in r.get("answers") or ())
        keywords = tuple(str(k).lower() for k in r.get("keywords") or ())
        if not answers and not keywords:
            raise RulesError(f"{at}: needs answers or keywords")
        flags.append(
            RedFlag(
                r["id"],
                r.get("label", r["id"]),
                r["question"],
                r["urgency"],
                r["advice"],
                answers,
                keywords,
            )
        )
    return Form(
        data["id"],
        str(data.get("version", "")),
        data["title"],
        data["service"],
        data.get("intro", ""),
        data["what_next"],
        bool(data.get("public", True)),
        tuple(questions),
        tuple(flags),
    )


@functools.cache
def advice() -> dict[str, Advice]:
    return parse_advice(_read("advice.toml"))


@functools.cache
def forms() -> dict[str, Form]:
    out = {}
    for entry in sorted(
        package_data_dir().joinpath("self_referral").iterdir(), key=lambda e: e.name
    ):
        if entry.name.endswith(".toml") and entry.name != "advice.toml":
            form = parse_form(_read(entry.name), advice(), entry.name)
            if f"{form.id}.toml" != entry.name:
                raise RulesError(f"{entry.name}: id {form.id!r} must match the file name")
            out[form.id] = form
    return out


def public_forms() -> list[Form]:
    return [f for f in forms().values() if f.public]


def screen(form: Form, answers: dict) -> Screen:
    fired = tuple(r for r in form.red_flags if r.fires(answers))
    if not fired:
        return Screen("routine", (), advice()["routine"])
    urgency = min((r.urgency for r in fired), key=URGENCIES.index)
    first = next(r for r in fired if r.urgency == urgency)
    return Screen(urgency, fired, advice()[first.advice])
