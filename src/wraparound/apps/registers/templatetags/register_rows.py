"""The register worklist's table rows, built in Python from the page's values (``views.ROW``):
fifty rows of a dozen cells each were most of the page's time in the template engine, and
fifty entries as models (each with its patient, case and practice) most of the rest
(docs/benchmarks.md, ``bench_rush``). Each cell is escaped (``html.escape``, which is what
Django's autoescape runs) and formatted by the same Django filters the template used
(``floatformat``; ``widthratio``'s rounding), so the rows read exactly as before."""

from __future__ import annotations

from functools import cache, lru_cache
from html import escape

from django import template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.safestring import mark_safe

from wraparound.apps.records.models import Patient, display_name, nhs_number_display

register = template.Library()

NEW = mark_safe(' <strong class="nhsuk-tag nhsuk-tag--green">New</strong>')


@cache
def _statuses() -> dict[str, str]:
    """The case statuses' labels, read from the case model's field through the patient's
    reverse relation: registers sits below care and imports none of it."""
    case = Patient._meta.get_field("case").related_model
    return {str(k): str(v) for k, v in case._meta.get_field("status").flatchoices}


def _status(value: str | None) -> str:
    return (_statuses().get(value, value) if value else "") or "Identified"


@lru_cache(maxsize=4096)
def _efi(value: float) -> str:
    """``floatformat:2`` (half up, as the template showed it); eFI takes few distinct values."""
    return floatformat(value, 2)


def _row(e: dict, pseudonymised: bool, patient_url: str) -> str:
    """One ``<tr>``. Every value from the database goes through ``escape`` (what Django's
    autoescape does: ``html.escape``); ``format_html`` per cell cost more than the query."""
    new = NEW if e["is_new"] else ""
    if pseudonymised:
        who = f"<td><code>{escape(e['patient__pseudonym'])}</code>{new}</td>"
        status = ""
    else:
        who = (
            f'<td><a href="{patient_url}{int(e["patient_id"])}/">'
            f"{escape(display_name(e['patient__given_name'], e['patient__family_name']))}"
            f'</a>{new}</td>\n      <td class="app-nowrap">'
            f"{escape(nhs_number_display(e['patient__nhs_number']))}</td>"
        )
        status = f"\n      <td>{escape(_status(e['patient__case__status']))}</td>"
    efi = f"{_efi(e['efi'])} {escape(e['efi_category'])}" if e["efi"] is not None else ""
    return (
        f'    <tr class="nhsuk-table__row">\n      {who}\n'
        f"      <td>{escape(e['practice__name'])}</td>\n"
        f"      <td>{round(float(e['score']) * 100)}%</td><td>{escape(e['risk_band'])}</td>"
        f"<td>{escape(e['stream'])}</td>\n      <td>{efi}</td>{status}\n    </tr>\n"
    )


@register.simple_tag
def register_rows(page, pseudonymised: bool):
    """The ``<tr>`` of each entry on the page (none: the caller shows the empty row)."""
    patient_url = "" if pseudonymised else reverse("patient", args=[0]).removesuffix("0/")
    return mark_safe("".join(_row(e, pseudonymised, patient_url) for e in page))
