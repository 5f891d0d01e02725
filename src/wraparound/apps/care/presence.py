"""Which of a patient's care lists hold anything, asked in one statement.

The patient page shows the case, the care plan, the care team, alerts, open tasks, reviews
and MDT items. For most patients on a register most of those are empty (at 300k, 1 in 100
has a care team and 6 in 100 an alert). Through the ORM each list cost about half a
millisecond of compiling SQL before the database spent microseconds finding nothing
(docs/benchmarks.md, the morning rush). One statement of ``EXISTS`` answers for all of them;
the page then asks only for the lists that hold something.

Each list is its table and the conditions the page puts on it, beyond the patient: a column
equal to a value, or ``IS NULL`` for ``None``. ``tests/app/test_patient_presence.py`` holds
them to the ORM's answer for the same lists.
"""

from __future__ import annotations

from functools import cache

from django.db import connection

from wraparound.apps.care.models import (
    AgendaItem,
    Alert,
    CarePlan,
    CareTeamMember,
    CaseRecord,
    ClinicalReview,
    Task,
)

LISTS = {
    "case": (CaseRecord, {}),
    "plan": (CarePlan, {}),
    "team": (CareTeamMember, {"active": True}),
    "alerts": (Alert, {}),
    "tasks": (Task, {"done_at": None}),
    "reviews": (ClinicalReview, {}),
    "mdt_items": (AgendaItem, {}),
}


@cache
def _statement() -> tuple[str, tuple]:
    """The statement, with a ``%s`` for the patient in each ``EXISTS``, and the other
    conditions' values in order (the same on every call, so built once)."""
    q = connection.ops.quote_name
    parts, values = [], []
    for model, where in LISTS.values():
        opts = model._meta
        conditions = [f"{q(opts.get_field('patient').column)} = %s"]
        for name, value in where.items():
            column = q(opts.get_field(name).column)
            conditions.append(f"{column} IS NULL" if value is None else f"{column} = %s")
        parts.append(f"EXISTS (SELECT 1 FROM {q(opts.db_table)} WHERE {' AND '.join(conditions)})")
        values.append([v for v in where.values() if v is not None])
    return "SELECT " + ", ".join(parts), tuple(tuple(v) for v in values)


def present(patient_id: int) -> dict[str, bool]:
    """For each of ``LISTS``, whether the patient has anything in it."""
    sql, values = _statement()
    params = [p for extra in values for p in (patient_id, *extra)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return {name: bool(found) for name, found in zip(LISTS, row, strict=True)}
