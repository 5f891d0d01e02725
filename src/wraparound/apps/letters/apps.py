from django.apps import AppConfig


class LettersConfig(AppConfig):
    """Letters back to the GP: an expected letter for every contact that needs one
    (``data/letters.toml``), met when a letter arrives through ingest (the warehouse's
    ``letters`` table), measured within 2 operational days per provider and service, and
    overdue letters escalated to the practice's care co-ordinator (care's tasks)."""

    name = "wraparound.apps.letters"
    label = "letters"
