"""The names the pipeline publishes and the app loads, spelled once.

The analytics write Parquet files and the app reads them; the indicator definitions filter on
the same categories and kinds; the app's models offer the same values as choices. Each of
those names is defined here and imported everywhere else, so a new kind or column is added in
one place and a misspelling is an import error, not a silently empty figure.

This module holds names and their order only. What the names mean clinically (the eFI's
score bounds, the rules that put a patient in a stream, code lists) is clinical content and
lives in the versioned data files under ``data/`` (docs/clinical-content.md). Orders matter:
published columns come out in the order given here, and Django's ``choices`` are built from
these tables, so reordering a table or changing a label is a migration.

Nothing here imports Django, Polars or an engine: every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# Frailty and streams

EFI_CATEGORIES = ("fit", "mild", "moderate", "severe")
"""The electronic Frailty Index's categories, from least to most frail (their score bounds are
in ``analytics/frailty.py``'s validated cut-offs)."""

STREAMS = ("high_needs", "intermediate", "less_complex")
"""The patient streams an indicator may filter on; ``data/streams.toml`` says who is in each."""

# ---------------------------------------------------------------------------------------
# Encounters

ENCOUNTER_KIND_LABELS = {
    "gp_appointment": "GP appointment",
    "ae_attendance": "A&E attendance",
    "emergency_admission": "Emergency admission",
    "elective_admission": "Elective admission",
    "outpatient": "Outpatient",
    "community": "Community nursing",
    # A contact with adult social care (a social worker's visit or assessment).
    "social_care": "Social care",
}
"""Every kind of encounter in the warehouse, with the word the app's timeline shows."""

ENCOUNTER_KINDS = tuple(ENCOUNTER_KIND_LABELS)
"""The values of ``encounters.kind`` (warehouse/schema.py), checked at ingest."""

APP_EVENT_KINDS = ("referral",)
"""Events only the app records (the referrals app's referral steps, written back under
``DIR/app_referrals/``): an indicator may count them, the warehouse never holds them."""

INDICATOR_ENCOUNTER_KINDS = (
    *(k for k in ENCOUNTER_KINDS if k != "social_care"),
    *APP_EVENT_KINDS,
)
"""The kinds an indicator's ``events`` may count (docs/indicators.md): social-care contacts are
not yet among them; the app's own events are."""

# ---------------------------------------------------------------------------------------
# Organisation levels

LEVELS = ("practice", "neighbourhood", "locality")
"""The organisation levels of registers, published indicator values and users' scopes, from
the smallest."""

# ---------------------------------------------------------------------------------------
# Published runs

RISK = "risk"
"""The run kind of ``wraparound stratify``: scores, registers, the model card."""
INDICATORS = "indicators"
"""The run kind of ``wraparound indicators``: indicator values, outliers, the public table."""
RUN_KINDS = (RISK, INDICATORS)
"""Results kinds under ``DIR/results/<kind>`` (warehouse/paths.py, analytics/results.py)."""

SCORE_COLUMNS = (
    "patient_id",
    "practice_id",
    "neighbourhood_id",
    "index_date",
    "score",
    "risk_band",
    "rank",
    "percentile",
    "stream",
    "efi",
    "efi_category",
    "deficits",
    "reasons",
    "opted_out",
)
"""The first columns of a risk run's ``scores.parquet``, in order; the feature columns the
registers show (``features.register_columns()``), ``n_ltc`` and ``model_version`` follow."""

RISK_INPUT_COLUMNS = ("patient_id", "stream", "efi_category")
"""What the indicators read from the newest risk run's scores."""

REGISTER_KEY = ("level", "unit_id", "patient_id")
REGISTER_COLUMNS = (
    "level",
    "unit_id",
    "patient_id",
    "unit_rank",
    "score",
    "risk_band",
    "stream",
    "efi_category",
    "reasons",
)
"""A risk run's ``registers.parquet``: one row per patient per register, in order."""

INDICATOR_COUNTS = ("numerator", "denominator")
INDICATOR_INTERVALS = ("value", "lower95", "upper95", "lower998", "upper998")
"""A figure and its 95% and 99.8% confidence limits."""
INDICATOR_VALUES = (*INDICATOR_COUNTS, *INDICATOR_INTERVALS)
FUNNEL_LIMITS = ("funnel_lower95", "funnel_upper95", "funnel_lower998", "funnel_upper998")
"""A practice's funnel-plot limits at its own denominator, around the locality's value."""
INDICATOR_OUTPUT_COLUMNS = (
    "indicator_id",
    "indicator_version",
    "period",
    "period_end",
    "level",
    "org_id",
    "parent_id",
    "subgroup",
    *INDICATOR_VALUES,
    "peer_value",
    *FUNNEL_LIMITS,
    "funnel_status",
    "funnel_status95",
    "assessment",
    "decile",
    "percentile_rank",
    "change_12m",
    "trend",
    "publishable",
)
"""An indicators run's ``indicator_values.parquet``, in order."""

# ---------------------------------------------------------------------------------------
# Roles


@dataclass(frozen=True)
class Role:
    """A kind of access to the app (apps/records/roles.py explains how roles and
    relationships combine)."""

    code: str
    label: str
    direct_care: bool = False  # may open identifiable records (with a relationship)
    practice_list: bool = False  # registration with the user's practice is a relationship
    register_pool: bool = False  # the register of the user's scope is their caseload pool
    pseudonymised: bool = False  # sees pseudonymised worklists and aggregates
    audit: bool = False  # may search the audit trail
    manage_users: bool = False
    mdt_member: bool = False
    records_reviews: bool = False  # may record clinical reviews and assessments
    can_book: bool = False  # may book hub appointments (with a relationship allowing it)
    can_overbook: bool = False  # may book a slot already taken (audited; access app)
    mdt_chair: bool = False  # may call an MDT meeting of their team
    scorecards: bool = False  # may see the practice scorecards (within their scope)
    clinician_rows: bool = False  # may see their own practice's clinician breakdown
    access_dashboards: bool = False  # may see the capacity and access-standards dashboards


ROLES: dict[str, Role] = {
    r.code: r
    for r in (
        Role(
            "gp",
            "GP",
            direct_care=True,
            practice_list=True,
            register_pool=True,
            records_reviews=True,
            can_book=True,
            mdt_chair=True,
            scorecards=True,
            clinician_rows=True,
            access_dashboards=True,
        ),
        Role(
            "practice_staff",
            "Practice staff",
            direct_care=True,
            practice_list=True,
            register_pool=True,
            records_reviews=True,
            can_book=True,
            scorecards=True,
            clinician_rows=True,
            access_dashboards=True,
        ),
        Role(
            "coordinator",
            "Care co-ordinator",
            direct_care=True,
            register_pool=True,
            mdt_member=True,
            can_book=True,
            mdt_chair=True,
            scorecards=True,
            access_dashboards=True,
        ),
        Role(
            "community_nurse",
            "Community nurse",
            direct_care=True,
            mdt_member=True,
            records_reviews=True,
        ),
        Role("social_worker", "Social worker", direct_care=True, mdt_member=True),
        Role("pharmacist", "Pharmacist", direct_care=True, mdt_member=True, records_reviews=True),
        Role("mental_health", "Mental-health worker", direct_care=True, mdt_member=True),
        Role("link_worker", "Voluntary-sector link worker", direct_care=True, mdt_member=True),
        Role(
            "hub_clinician",
            "Hub clinician",
            direct_care=True,
            can_book=True,
            access_dashboards=True,
        ),
        # Hub reception and rota staff: book for any patient of the hub's neighbourhood
        # and may overbook (audited), read only what a booking allows.
        Role(
            "hub_staff",
            "Hub staff",
            direct_care=True,
            can_book=True,
            can_overbook=True,
            access_dashboards=True,
        ),
        Role(
            "commissioner",
            "Commissioner / analyst",
            pseudonymised=True,
            scorecards=True,
            access_dashboards=True,
        ),
        Role("admin", "Administrator", manage_users=True),
        Role("auditor", "Auditor (Caldicott guardian)", audit=True),
    )
}
"""Every role, in the order the admin's form offers them."""

MDT_ROLES = tuple(code for code, role in ROLES.items() if role.mdt_member)
"""The roles that sit on a team's MDT (a GP of the team is invited as well)."""
MDT_CHAIR_ROLES = tuple(code for code, role in ROLES.items() if role.mdt_chair)
"""The roles that may call an MDT meeting."""
SCORECARD_ROLES = tuple(code for code, role in ROLES.items() if role.scorecards)
"""The roles that see the practice scorecards (apps/scorecard/access.py says which practices)."""
CLINICIAN_ROLES = tuple(code for code, role in ROLES.items() if role.clinician_rows)
"""The roles that see the clinician breakdown of their own practice's scorecard."""
DASHBOARD_ROLES = tuple(code for code, role in ROLES.items() if role.access_dashboards)
"""The roles that see the access app's capacity and access-standards dashboards."""
NO_DIRECT_CARE_ROLES = tuple(code for code, role in ROLES.items() if not role.direct_care)
"""The roles that never open a patient's record, so are never offered as its care staff."""

SCOPE_LABELS = dict(zip(LEVELS, ("Practice", "Neighbourhood", "Locality"), strict=True))
"""A user's scope: the organisation level whose patients they work with."""
