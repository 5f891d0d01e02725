"""The message templates and purposes (``data/messages/templates.toml``), read once and checked,
and Notify-style rendering of ``((placeholders))``. A malformed file is refused naming the key.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass

from wraparound.clinical import package_data_dir

CHANNELS = ("sms", "email", "letter")
PLACEHOLDER = re.compile(r"\(\(([a-z0-9_]+)\)\)")
_ID = re.compile(r"^[a-z0-9_]+$")
_NOTIFY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ContentError(ValueError):
    """The messages data file is malformed, or a message was asked for that it cannot make."""


@dataclass(frozen=True)
class Variant:
    """One template on one channel."""

    template: str
    channel: str
    notify_id: str
    body: str
    subject: str = ""
    easy_read_body: str = ""

    @property
    def placeholders(self) -> frozenset[str]:
        text = self.subject + self.body + self.easy_read_body
        return frozenset(PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class Purpose:
    code: str
    label: str
    direct_care: bool


@dataclass(frozen=True)
class Content:
    version: str
    purposes: dict[str, Purpose]
    templates: dict[str, dict[str, Variant]]  # template id -> channel -> variant


def parse(data: dict) -> Content:
    purposes = {}
    for code, p in (data.get("purposes") or {}).items():
        if not _ID.match(code) or not isinstance(p.get("direct_care"), bool):
            raise ContentError(f"[purposes.{code}]: needs a lower-case id and direct_care = bool")
        purposes[code] = Purpose(code, str(p.get("label", code)), p["direct_care"])
    templates: dict[str, dict[str, Variant]] = {}
    for tid, channels in (data.get("templates") or {}).items():
        if not _ID.match(tid):
            raise ContentError(f"[templates.{tid}]: the id must be lower case, digits and _")
        for channel, v in channels.items():
            where = f"[templates.{tid}.{channel}]"
            if channel not in CHANNELS:
                raise ContentError(f"{where}: the channel must be one of {', '.join(CHANNELS)}")
            if not isinstance(v.get("body"), str) or not v["body"].strip():
                raise ContentError(f"{where}: body is required")
            if not _NOTIFY_ID.match(str(v.get("notify_id", ""))):
                raise ContentError(f"{where}: notify_id must be a Notify template id (a UUID)")
            if channel != "sms" and not v.get("subject"):
                raise ContentError(f"{where}: an {channel} needs a subject")
            templates.setdefault(tid, {})[channel] = Variant(
                tid,
                channel,
                v["notify_id"],
                v["body"],
                v.get("subject", ""),
                v.get("easy_read_body", ""),
            )
    return Content(str(data.get("version", "")), purposes, templates)


@functools.cache
def content() -> Content:
    with package_data_dir().joinpath("messages", "templates.toml").open("rb") as f:
        return parse(tomllib.load(f))


def render(text: str, personalisation: dict) -> str:
    """``text`` with every ``((name))`` replaced; a placeholder without a value is refused
    (Notify refuses it too), so a message never goes out with a hole in it."""
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(personalisation))
    if missing:
        raise ContentError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: str(personalisation[m.group(1)]), text)
