"""The ``register`` relationship, registered with the one relationship model
(``records.relationships``) from ``RegistersConfig.ready()``: the patient is on the current
risk register, registered with a practice in the user's scope, and the user's role works the
register (GP, practice staff, care co-ordinator)."""

from __future__ import annotations

from wraparound.apps.records.relationships import Relationship, register_provider
from wraparound.apps.registers.models import RegisterEntry


def register_pool(user, patient, now):
    if not user.role_info.register_pool:
        return
    if not user.covers_practice(patient.practice):
        return
    entry = RegisterEntry.current().filter(patient=patient).select_related("run").first()
    if entry is not None:
        yield Relationship(
            "register",
            source=f"risk register run {entry.run.run_id}",
            source_basis="risk stratification",
            start=entry.run.loaded_at,
        )


def register() -> None:
    register_provider("register", register_pool)
