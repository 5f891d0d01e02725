"""The register worklist's table rows, built in Python: fifty rows of a dozen cells each were
most of the page's time in the template engine (docs/benchmarks.md, ``bench_rush``). Each
cell is escaped (``format_html``) and formatted by the same Django filters the template used
(``floatformat``; ``widthratio``'s rounding), so the rows read exactly as before."""

from __future__ import annotations

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

NEW = mark_safe(' <strong class="nhsuk-tag nhsuk-tag--green">New</strong>')


def _status(patient) -> str:
    try:
        case = patient.case
    except ObjectDoesNotExist:
        return "Identified"
    return case.get_status_display() or "Identified"


def _row(e, pseudonymised: bool, patient_url: str):
    new = NEW if e.is_new else ""
    if pseudonymised:
        who = format_html("<td><code>{}</code>{}</td>", e.patient.pseudonym, new)
    else:
        who = format_html(
            '<td><a href="{}">{}</a>{}</td>\n      <td class="app-nowrap">{}</td>',
            f"{patient_url}{e.patient_id}/",
            e.patient,
            new,
            e.patient.nhs_number_display(),
        )
    efi = format_html("{} {}", floatformat(e.efi, 2), e.efi_category) if e.efi is not None else ""
    status = format_html("\n      <td>{}</td>", _status(e.patient)) if not pseudonymised else ""
    return format_html(
        '    <tr class="nhsuk-table__row">\n      {}\n      <td>{}</td>\n'
        "      <td>{}%</td><td>{}</td><td>{}</td>\n      <td>{}</td>{}\n    </tr>\n",
        who,
        e.practice.name,
        str(round(float(e.score) * 100)),  # {% widthratio e.score 1 100 %}
        e.risk_band,
        e.stream,
        efi,
        status,
    )


@register.simple_tag
def register_rows(page, pseudonymised: bool):
    """The ``<tr>`` of each entry on the page (none: the caller shows the empty row)."""
    patient_url = "" if pseudonymised else reverse("patient", args=[0]).removesuffix("0/")
    return format_html_join("", "{}", ((_row(e, pseudonymised, patient_url),) for e in page))
