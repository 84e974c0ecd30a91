"""A synthetic export whose every PHI value is a unique marker string, and the search for those markers.

Markers are ``Qz<id><tag>`` (names, addresses, notes...), phone numbers ``<area> 555-<patient id>`` (only
ever dialled by this test) and birth dates in the 1930s: none of them can occur by chance in a log line,
an id, a hash or a timestamp. ``find_markers`` is case-insensitive (name casing may change a marker).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.reliability._corpus import PATIENT_FILE, _encode_row, _set, clean_export, rewrite

_TEXT_COLUMNS = {
    "first_name": "fn",
    "last_name": "ln",
    "mi": "mi",
    "preferred_name": "pn",
    "address_line1": "aa",
    "address_line2": "ab",
    "city": "ct",
    "note": "nt",
    "Emergency Contact Phone": "ec",
}
_PHONES = {"home_phone": "303", "work_phone": "719", "mobile_phone": "720", "other_phone": "970"}
# Other files' free text: file -> (key column, text columns).
_RELATED = {
    "v_clinical_notes.csv": ("cnotes_id", ("note_text",)),
    "v_appointment.csv": ("appointment_id", ("reason", "note")),
    "contact.csv": ("contactid", ("title", "notetext")),
    "patalerts.csv": ("alertid", ("descript",)),
}


def marker_export(
    base: Path, *, patients: int = 14, seed: int = 31, name: str = "markers"
) -> tuple[Path, set[str]]:
    """The export and every marker (lower-case) it holds."""
    path = clean_export(base, name=name, patients=patients, seed=seed)
    markers: set[str] = set()

    def patient(key: str, cells: list[str], header: list[str]) -> list[bytes]:
        n = int(key) - 1000
        for column, tag in _TEXT_COLUMNS.items():
            if column in header:
                value = f"Qz{key}{tag}"
                _set(header, cells, column, f"{value} Street" if column == "address_line1" else value)
                markers.add(value.lower())
        email = f"qz{key}em@example.org"
        _set(header, cells, "email", email)
        markers.add(f"qz{key}em")
        for column, area in _PHONES.items():
            _set(header, cells, column, f"({area}) 555-{key}")
            markers.update({f"{area}555{key}", f"555-{key}"})
        birth = f"193{n % 10}-0{1 + n % 9}-{10 + n:02d}"
        _set(header, cells, "birth_date", birth)
        markers.update({birth, f"0{1 + n % 9}/{10 + n:02d}/193{n % 10}"})
        return [_encode_row(cells)]

    rewrite(path, PATIENT_FILE, patient)
    for file, (_key_column, columns) in _RELATED.items():

        def related(
            key: str, cells: list[str], header: list[str], cols: tuple[str, ...] = columns
        ) -> list[bytes]:
            for column in cols:
                value = f"Qz{key}{column[:2]}"
                _set(header, cells, column, f"{value} text")
                markers.add(value.lower())
            return [_encode_row(cells)]

        rewrite(path, file, related)
    return path, markers


def find_markers(text: str, markers: Iterable[str]) -> list[str]:
    low = text.lower()
    return sorted(m for m in markers if m in low)
