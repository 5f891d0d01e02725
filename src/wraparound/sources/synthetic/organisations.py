"""The locality's organisations: neighbourhoods of 30-50k patients, practices, hubs, trusts,
their small areas (LSOAs with IMD deciles) and clinical staff.

Everything here is drawn once for the whole population (it is small), so that patients
generated in separate chunks share one structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from wraparound.sources.synthetic.params import parameters

LOCALITY = "W9L"
ACUTE_TRUST = "R9A"
COMMUNITY_TRUST = "R9C"

_PLACES = (
    "Ashby Road",
    "Beech Lane",
    "Castle Street",
    "Dene Park",
    "Elm Grove",
    "Fairfield",
    "Glebe House",
    "Hill Top",
    "Ivy Court",
    "Jubilee",
    "Kingsway",
    "Larkfield",
    "Marsh Lane",
    "Northgate",
    "Oakwood",
    "Priory",
    "Queens Road",
    "Riverside",
    "Station Road",
    "Tannery",
    "Upton",
    "Valley",
    "Westfield",
    "Yew Tree",
    "Abbey",
    "Brook",
    "Canal Side",
    "Dale View",
)
_SURNAMES = (
    "Ahmed",
    "Brown",
    "Chen",
    "Davies",
    "Evans",
    "Fofana",
    "Green",
    "Hussain",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Murphy",
    "Nowak",
    "Okafor",
    "Patel",
    "Quinn",
    "Roberts",
    "Singh",
    "Taylor",
    "Usman",
    "Varga",
    "Wilson",
    "Xu",
    "Young",
    "Zielinski",
    "Walker",
    "Hughes",
)

FTE_CYCLE = (1.0, 0.8, 0.6, 0.75)
"""Whole-time equivalents of the synthetic staff roles, in turn (37.5 hours a week is 1.0)."""


@dataclass
class Locality:
    """Practices in patient order: patients ``starts[i]`` to ``starts[i+1]`` belong to i."""

    practice_codes: np.ndarray
    practice_sizes: np.ndarray
    practice_imd: np.ndarray  # mean IMD decile of the catchment (float)
    practice_neighbourhood: np.ndarray  # index into neighbourhood_codes
    neighbourhood_codes: np.ndarray
    hub_codes: np.ndarray
    lsoa_codes: np.ndarray
    lsoa_imd: np.ndarray
    lsoa_practice: np.ndarray  # practice index each LSOA mainly serves
    staff: dict[str, dict[str, np.ndarray]]  # org code -> role -> practitioner_role ids
    tables: dict[str, pa.Table]

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.practice_sizes)])

    def practice_of(self, patient_index: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, patient_index, side="right") - 1


def _list_sizes(n: int, rng: np.random.Generator, p: dict) -> np.ndarray:
    """Draw list sizes until they cover n patients, then scale them to sum to n exactly."""
    sizes: list[int] = []
    while sum(sizes) < n:
        s = rng.lognormal(np.log(p["list_size_median"]), p["list_size_sigma"])
        sizes.append(int(np.clip(s, p["list_size_min"], p["list_size_max"])))
    arr = np.array(sizes, dtype=float)
    arr = np.floor(arr * n / arr.sum()).astype(np.int64)
    arr[: n - arr.sum()] += 1
    return arr[arr > 0]


def _neighbourhoods(sizes: np.ndarray, p: dict) -> np.ndarray:
    """Group practices into neighbourhoods near the middle of the 30-50k range: as many
    groups as that size allows, filled largest practice first into the smallest group, which
    keeps every group within a practice's size of the mean. A locality of at least one
    neighbourhood's minimum and two practices has at least two neighbourhoods (a 50k demo
    locality would otherwise have one, and nothing to compare or book across)."""
    total = sizes.sum()
    target = (p["neighbourhood_min"] + p["neighbourhood_max"]) / 2
    groups = max(1, round(float(total) / target))
    if groups == 1 and total >= p["neighbourhood_min"] and sizes.size >= 2:
        groups = 2
    group = np.zeros(sizes.size, dtype=np.int64)
    filled = np.zeros(groups)
    for i in np.argsort(-sizes, kind="stable"):
        g = int(np.argmin(filled))
        group[i] = g
        filled[g] += sizes[i]
    return group


def build_locality(n: int, seed: int) -> Locality:
    p = parameters()["organisations"]
    rng = np.random.default_rng([seed, 1])
    sizes = _list_sizes(n, rng, p)
    n_prac = sizes.size
    group = _neighbourhoods(sizes, p)
    n_nb = int(group.max()) + 1
    prac_codes = np.array([f"P9{i + 1:04d}" for i in range(n_prac)])
    nb_codes = np.array([f"U9{i + 1:04d}" for i in range(n_nb)])
    hub_codes = np.array([f"H9{i + 1:04d}" for i in range(n_nb)])
    # Stratified, so the locality as a whole is as deprived as England, whatever its size.
    prac_imd = 1 + 9 * rng.permutation((np.arange(n_prac) + rng.uniform(0, 1, n_prac)) / n_prac)

    # LSOAs: each practice's catchment, deciles spread around the practice's mean.
    spread = parameters()["population"]["imd_spread"]
    n_lsoa = np.maximum(1, np.round(sizes / p["patients_per_lsoa"])).astype(int)
    lsoa_practice = np.repeat(np.arange(n_prac), n_lsoa)
    lsoa_imd = np.clip(np.round(rng.normal(prac_imd[lsoa_practice], spread)), 1, 10).astype(int)
    lsoa_codes = np.array([f"E0190{i + 1:04d}" for i in range(lsoa_practice.size)])

    names = rng.permutation(len(_PLACES))
    org_rows = [(LOCALITY, "Wraparound Locality", "locality", None)]
    for i, code in enumerate(nb_codes):
        org_rows.append(
            (code, f"{_PLACES[names[i % len(names)]]} Neighbourhood", "neighbourhood", LOCALITY)
        )
        org_rows.append((hub_codes[i], f"{_PLACES[names[i % len(names)]]} Access Hub", "hub", code))
    used: set[str] = set()
    for i, code in enumerate(prac_codes):
        # Every practice its own name: on a clash, the next place along (then a number).
        suffix = ("Surgery", "Medical Practice", "Health Centre", "Family Practice")[i % 4]
        for step in range(len(_PLACES)):
            name = f"{_PLACES[(i * 7 + 3 + step) % len(_PLACES)]} {suffix}"
            if name not in used:
                break
        else:
            name = f"{_PLACES[(i * 7 + 3) % len(_PLACES)]} {suffix} {i + 1}"
        used.add(name)
        org_rows.append((code, name, "practice", nb_codes[group[i]]))
    org_rows.append((ACUTE_TRUST, "Wraparound Hospitals NHS Trust", "trust", None))
    org_rows.append((COMMUNITY_TRUST, "Wraparound Community Health NHS Trust", "community", None))
    organisations = pa.table(
        {
            "id": [r[0] for r in org_rows],
            "org_id": [r[0] for r in org_rows],
            "name": [r[1] for r in org_rows],
            "kind": [r[2] for r in org_rows],
            "parent_id": [r[3] for r in org_rows],
        }
    )
    areas = pa.table(
        {"id": lsoa_codes, "lsoa": lsoa_codes, "imd_decile": pa.array(lsoa_imd, pa.int8())}
    )

    staff: dict[str, dict[str, np.ndarray]] = {}
    pr_ids, pr_names, role_ids, role_pr, role_org, role_role = [], [], [], [], [], []

    def add(org: str, role: str, count: int) -> None:
        ids = []
        for _ in range(max(1, count)):
            k = len(pr_ids)
            pid = f"s{seed}-pr{k + 1:05d}"
            pr_ids.append(pid)
            title = "Dr " if role == "gp" else ""
            pr_names.append(
                f"{title}{chr(65 + int(rng.integers(26)))} "
                f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}"
            )
            rid = f"s{seed}-rl{k + 1:05d}"
            role_ids.append(rid)
            role_pr.append(pid)
            role_org.append(org)
            role_role.append(role)
            ids.append(rid)
        staff.setdefault(org, {})[role] = np.array(ids)

    for i, code in enumerate(prac_codes):
        for role, ratio in p["staff_ratio"].items():
            add(code, role, round(sizes[i] / ratio))
    for code in hub_codes:
        for role, count in p["hub_staff"].items():
            add(code, role, count)
    add(COMMUNITY_TRUST, "community_nurse", max(4, n // 8000))

    tables = {
        "organisations": organisations,
        "areas": areas,
        "practitioners": pa.table({"id": pr_ids, "name": pr_names}),
        "practitioner_roles": pa.table(
            {
                "id": role_ids,
                "practitioner_id": role_pr,
                "org_id": role_org,
                "role": role_role,
                # Whole-time equivalents from a fixed cycle, not the random stream (the
                # locality's other draws are unchanged): GPs average about 0.79.
                "fte": pa.array(
                    [FTE_CYCLE[k % len(FTE_CYCLE)] for k in range(len(role_ids))], pa.float64()
                ),
            }
        ),
    }
    return Locality(
        prac_codes,
        sizes,
        prac_imd,
        group,
        nb_codes,
        hub_codes,
        lsoa_codes,
        lsoa_imd,
        lsoa_practice,
        staff,
        tables,
    )
