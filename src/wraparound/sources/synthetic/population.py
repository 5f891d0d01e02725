"""What the synthetic generator hands to its writers: warehouse tables, one chunk of patients
at a time, so a million-patient locality streams to disk in bounded memory."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass
class PopulationChunk:
    """One slice of the synthetic population.

    ``tables`` hold warehouse-shaped rows (``schema.TABLES``); organisations, areas,
    practitioners and practitioner roles arrive only in the first chunk. ``identities`` maps
    each Patient logical id (``id``) to its NHS number, pseudonym (``patient_id``), name
    (``given_name``, ``family_name``) and contact details (``phone``, a mobile in Ofcom's drama
    range, and ``email`` at a reserved example domain; null where the person has none:
    ``contacts.py``): what a direct-care record shows. Only the FHIR writer and the
    warehouse's direct-care ``identity`` table (``writer.identity_table``) use them: no
    analytics table stores NHS numbers, names or contact details. ``oracle`` holds each
    patient's true 12-month emergency admission risk at each index date; it goes to its own
    file, never to the warehouse or to FHIR.
    """

    tables: dict[str, pa.Table]
    identities: pa.Table
    oracle: pa.Table | None = None
    # A simulated intervention's ground truth: one row per emergency admission it prevented
    # (``events.Simulation.oracle``), for ``DIR/oracle/intervention.parquet``.
    intervention: pa.Table | None = None
