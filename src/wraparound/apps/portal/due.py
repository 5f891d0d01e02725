"""The messages that fall due with time, sent by one scheduled command
(``wraparound app messages send-due``, run by cron or the overnight refresh): appointment
reminders and the Friends and Family Test offers after the pathway's touchpoints.

Nothing else sends them: a booking confirms itself when it is made, but a reminder is due a
day later and an FFT offer after something that happened elsewhere (a hub appointment seen,
a referral seen, a discharge loaded, a care-plan review), so without a scheduler neither
would ever go.

- **Reminders** are data (``data/portal/reminders.toml``, :func:`reminder_rules`): each
  rule is due for a booked hub appointment from ``hours_before`` its start until
  ``not_within_hours`` before it. One :class:`~wraparound.apps.portal.models.ReminderSent`
  row per appointment and rule, made under a unique constraint *before* the message, so a
  re-run (or two runs at once) sends nothing twice; the row keeps the message messaging
  recorded. Every appointment booked at a hub is reminded, whoever booked it.
- **FFT offers** are the feedback app's (``feedback.offers.make_offers``: one offer per
  touchpoint and event, itself idempotent, each sent once).

Both go through ``messaging.api.send_message``, which honours what the patient asked: a
refused channel, no contact detail, death, or the opt-out where the purpose is not direct
care is recorded as not sent, with the reason, and nothing reaches the outbox or Notify.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from wraparound.apps.access.models import Appointment
from wraparound.apps.portal.models import ReminderSent
from wraparound.apps.portal.rules import PortalRulesError
from wraparound.clinical import package_data_dir


@dataclass(frozen=True)
class ReminderRule:
    code: str
    label: str
    hours_before: float
    not_within_hours: float
    template: str
    purpose: str


def parse_reminders(data: dict, where: str = "data/portal/reminders.toml") -> list[ReminderRule]:
    """The reminder rules of ``data``; a malformed file is refused naming the rule and key."""
    from wraparound.apps.messaging.content import content

    messages = content()
    rules: list[ReminderRule] = []
    for i, r in enumerate(data.get("reminders") or ()):
        at = f"{where}: reminders[{i}]"
        code = r.get("code")
        if not isinstance(code, str) or not code or code in {x.code for x in rules}:
            raise PortalRulesError(f"{at}: a unique code is required")
        before, within = r.get("hours_before"), r.get("not_within_hours", 0)
        for key, value in (("hours_before", before), ("not_within_hours", within)):
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise PortalRulesError(f"{at} ({code}): {key} must be a number of hours >= 0")
        if within >= before:
            raise PortalRulesError(f"{at} ({code}): not_within_hours must be under hours_before")
        if r.get("template") not in messages.templates:
            raise PortalRulesError(f"{at} ({code}): unknown message template {r.get('template')!r}")
        if r.get("purpose") not in messages.purposes:
            raise PortalRulesError(f"{at} ({code}): unknown message purpose {r.get('purpose')!r}")
        rules.append(
            ReminderRule(
                code,
                str(r.get("label", code)),
                float(before),
                float(within),
                r["template"],
                r["purpose"],
            )
        )
    if not rules:
        raise PortalRulesError(f"{where}: at least one [[reminders]] is required")
    return rules


@functools.cache
def reminder_rules() -> list[ReminderRule]:
    with package_data_dir().joinpath("portal", "reminders.toml").open("rb") as f:
        return parse_reminders(tomllib.load(f))


def _due(rule: ReminderRule, now: dt.datetime):
    done = ReminderSent.objects.filter(code=rule.code).values("appointment_id")
    return (
        Appointment.objects.filter(
            status="booked",
            start__gt=now + dt.timedelta(hours=rule.not_within_hours),
            start__lte=now + dt.timedelta(hours=rule.hours_before),
        )
        .exclude(pk__in=done)
        .select_related("patient", "hub")
        .order_by("start", "pk")
    )


def count_due(now: dt.datetime | None = None) -> int:
    """How many reminders are due and not yet decided (for the progress bar's total)."""
    now = now or timezone.now()
    return sum(_due(rule, now).count() for rule in reminder_rules())


def send_reminders(
    now: dt.datetime | None = None, advance: Callable[[], None] | None = None
) -> dict:
    """Send every reminder due at ``now``, once: returns counts (``sent``; ``not_sent``,
    recorded by messaging with the reason; ``failed``, the backend refused and the claim
    was released for the next run) by rule. ``advance`` is called after each."""
    from wraparound import config
    from wraparound.apps.portal.booking import notify

    now = now or timezone.now()
    # Every reminder links the portal on the public address: a refused one (production
    # without https) stops the run here, before any reminder is claimed.
    config.current().public_url("/portal/")
    out: dict[str, dict[str, int]] = {}
    for rule in reminder_rules():
        counts = {"sent": 0, "not_sent": 0, "failed": 0}
        for appt in _due(rule, now):
            try:
                with transaction.atomic():
                    claim = ReminderSent.objects.create(appointment=appt, code=rule.code, at=now)
            except IntegrityError:  # a concurrent run has it
                continue
            try:
                message = notify(appt, rule.template, purpose=rule.purpose)
            except BaseException:  # not decided: the next run tries again
                claim.delete()
                raise
            if message is None or message.status == "failed":
                claim.delete()
                counts["failed"] += 1
            else:
                ReminderSent.objects.filter(pk=claim.pk).update(message=message)
                counts["sent" if message.status == "sent" else "not_sent"] += 1
            if advance is not None:
                advance()
        out[rule.code] = counts
    return out


def send_due(now: dt.datetime | None = None, advance: Callable[[], None] | None = None) -> dict:
    """Reminders, then FFT offers, due at ``now``; what each sent."""
    from wraparound.apps.feedback.offers import make_offers

    now = now or timezone.now()
    return {"reminders": send_reminders(now, advance), "feedback": make_offers(now)}
