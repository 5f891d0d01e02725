"""Care plans: every save is a new immutable version; the plan keeps the latest review date
so the worklist can filter overdue reviews in SQL."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from wraparound.apps.care.models import CarePlan, CarePlanVersion

TEXT_FIELDS = ("what_matters", "goals", "escalation", "contingency", "out_of_hours", "agreed_how")
ACTION_ROWS = 5


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None


def read_form(post, owners) -> tuple[dict, list[str]]:
    """The plan fields from a POST, and the problems with them (empty if none)."""
    data = {f: post.get(f, "").strip() for f in TEXT_FIELDS}
    errors = []
    if not data["what_matters"]:
        errors.append("Enter what matters to the patient")
    if not data["goals"]:
        errors.append("Enter at least one goal")
    data["review_date"] = parse_date(post.get("review_date", ""))
    if data["review_date"] is None:
        errors.append("Enter a review date as YYYY-MM-DD")
    data["ltc_review_date"] = parse_date(post.get("ltc_review_date", ""))
    data["agreed"] = post.get("agreed") == "yes"
    data["agreed_on"] = parse_date(post.get("agreed_on", "")) if data["agreed"] else None
    if data["agreed"] and data["agreed_on"] is None:
        errors.append("Enter the date the patient agreed the plan")
    by_pk = {str(u.pk): u for u in owners}
    actions = []
    for i in range(ACTION_ROWS):
        what = post.get(f"action_{i}_what", "").strip()
        if not what:
            continue
        owner = by_pk.get(post.get(f"action_{i}_owner", ""))
        due = parse_date(post.get(f"action_{i}_due", ""))
        if owner is None or due is None:
            errors.append(f"Action {i + 1}: choose an owner and enter a due date")
            continue
        actions.append(
            {
                "what": what,
                "owner_id": owner.pk,
                "owner": owner.get_full_name(),
                "due": due.isoformat(),
            }
        )
    data["actions"] = actions
    return data, errors


def save_version(patient, data: dict, author) -> CarePlanVersion:
    with transaction.atomic():
        plan, _ = CarePlan.objects.select_for_update().get_or_create(patient=patient)
        latest = plan.versions.order_by("-number").first()
        version = CarePlanVersion.objects.create(
            plan=plan, number=(latest.number + 1) if latest else 1, author=author, **data
        )
        plan.review_date = version.review_date
        plan.save(update_fields=["review_date"])
    return version
