"""Many offices at once: a dental group's offices, each a HighLevel sub-account, from one manifest.

::

    manifest = load_manifest("group/fleet.toml")
    fleet = Fleet(manifest, max_offices=8)
    await fleet.plan()
    await fleet.approve(by="ops@group.example")
    report = await fleet.run()
    for office in report.offices:
        print(office.office, office.status, office.counts)

Every office runs its own :class:`~dentrix_highlevel.migration.Migration` (its own client, rate limiter,
work directory, ledger and audit log); see ``docs/fleet.md``.
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.fleet._fleet import Fleet, FleetProgress
from dentrix_highlevel.fleet._manifest import (
    AgencyCredentialSource,
    AscendCredentialSource,
    FleetManifest,
    OfficeSpec,
    load_manifest,
)
from dentrix_highlevel.fleet._report import (
    REPORT_JSON,
    REPORT_MARKDOWN,
    FleetReport,
    OfficeProgress,
    OfficeReport,
    OfficeStatus,
)

__all__ = [
    "REPORT_JSON",
    "REPORT_MARKDOWN",
    "AgencyCredentialSource",
    "AscendCredentialSource",
    "Fleet",
    "FleetManifest",
    "FleetProgress",
    "FleetReport",
    "OfficeProgress",
    "OfficeReport",
    "OfficeSpec",
    "OfficeStatus",
    "load_manifest",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
