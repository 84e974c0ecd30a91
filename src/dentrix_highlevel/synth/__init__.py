"""Deterministic synthetic Dentrix practices: the demo's practice, the tests' and the benchmarks' workload.

``SyntheticPractice(SynthConfig(patients=..., seed=...))`` is the practice in memory, as the same typed
records every source yields; ``write_g_export(practice, path, ...)`` writes it as a Dentrix G structured
export (folder or ``.zip``, UTF-8 with or without BOM, or Windows-1252), optionally with located defects.
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.synth._g_writer import DIRTY_RATES, ExportResult, InjectedDefect, write_g_export
from dentrix_highlevel.synth._practice import Family, HealthItem, SynthConfig, SyntheticPractice

__all__ = [
    "DIRTY_RATES",
    "ExportResult",
    "Family",
    "HealthItem",
    "InjectedDefect",
    "SynthConfig",
    "SyntheticPractice",
    "write_g_export",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
