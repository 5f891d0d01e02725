"""The access app's fixed vocabularies: roles of hub staff, modes, slot types, appointment
statuses. Codes are stored in the database and used by the FHIR API and app events, so they
never change; labels are plain words for pages."""

from __future__ import annotations

HCP_ROLES = {
    "gp": "GP",
    "nurse": "Nurse",
    "pharmacist": "Pharmacist",
    "physiotherapist": "Physiotherapist",
    "hca": "Healthcare assistant",
}
MODES = {
    "face_to_face": "Face to face",
    "telephone": "Telephone",
    "video": "Video",
    "home_visit": "Home visit",
}
SLOT_TYPES = {
    "routine": "Routine",
    "same_day": "Same day",
    "urgent": "Urgent",
    "under_5s": "Under 5s",
    "long": "Long (high needs)",
}
SLOT_STATUSES = {"free": "Free", "booked": "Booked", "blocked": "Blocked"}
APPOINTMENT_STATUSES = {
    "booked": "Booked",
    "arrived": "Arrived",
    "seen": "Seen",
    "finished": "Finished",
    "did_not_attend": "Did not attend",
    "cancelled_patient": "Cancelled by the patient",
    "cancelled_practice": "Cancelled by the practice or hub",
}
ACTIVE_STATUSES = ("booked", "arrived", "seen")  # still holding their slots
CLOSED_STATUSES = ("finished", "did_not_attend", "cancelled_patient", "cancelled_practice")
# What may follow what. "finished" closes the encounter (the hub clinician's read ends).
TRANSITIONS = {
    "booked": {"arrived", "did_not_attend", "cancelled_patient", "cancelled_practice"},
    "arrived": {"seen", "did_not_attend", "cancelled_patient", "cancelled_practice"},
    "seen": {"finished"},
    "finished": set(),
    "did_not_attend": set(),
    "cancelled_patient": set(),
    "cancelled_practice": set(),
}
# When help was asked for, what the patient needed (the GM access standards, measured by
# the capacity work from help_requested_at to the appointment).
NEEDS = {
    "routine": "Routine",
    "under_5s_same_day": "Under 5, same day",
    "urgent_2h": "Urgent, within 2 hours",
    "same_day": "Same day if necessary",
    "within_48h": "Within 48 hours if requested",
}


def choices(mapping: dict[str, str]) -> list[tuple[str, str]]:
    return list(mapping.items())
