"""``dentrix-highlevel synth``: write a deterministic synthetic practice as a Dentrix G export."""

from __future__ import annotations

import time
from pathlib import Path

import click

from dentrix_highlevel._errors import DentrixHighLevelError
from dentrix_highlevel.cli._options import shown_option
from dentrix_highlevel.sources._g_export_specs import REQUIRED_FILES
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

__all__ = ["synth"]


@click.command("synth")
@click.option(
    "--out",
    "output",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the export: a folder, or a .zip file (a path ending in .zip, or --zip).",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write one .zip file (adds .zip to --out if missing).")
@click.option(
    "--patients", type=click.IntRange(min=1), default=1000, show_default=True, help="Number of patients."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same practice.")
@shown_option(
    "--encoding",
    click.Choice(["utf-8", "utf-8-sig", "cp1252"]),
    "utf-8",
    "utf-8-sig writes a BOM; cp1252 leaves out names the code page cannot hold.",
)
@shown_option(
    "--dirty",
    click.IntRange(0, 3),
    0,
    "Defect level: bad dates, broken rows, invalid bytes, dangling references, duplicates.",
)
@shown_option(
    "--date-style",
    click.Choice(["iso", "us", "mixed"]),
    "iso",
    "YYYY-MM-DD, MM/DD/YYYY, or a mix of both (as after an Excel round trip).",
)
@click.option("--minimal", is_flag=True, help="Only the minimum file set a CRM migration needs.")
@click.option(
    "--timezone", default="America/Denver", show_default=True, help="The practice's IANA time zone."
)
def synth(
    output: Path,
    as_zip: bool,
    patients: int,
    seed: int,
    encoding: str,
    dirty: int,
    date_style: str,
    minimal: bool,
    timezone: str,
) -> None:
    """Write a deterministic synthetic practice as a Dentrix G export (folder or .zip)."""
    if as_zip and output.suffix.lower() != ".zip":
        output = output.with_name(output.name + ".zip")
    if output.exists():
        raise click.UsageError(f"{output} already exists; choose a new path")
    started = time.monotonic()
    try:
        config = SynthConfig(
            patients=patients, seed=seed, timezone=timezone, non_latin_names=encoding != "cp1252"
        )
        result = write_g_export(
            SyntheticPractice(config),
            output,
            encoding=encoding,
            dirty=dirty,
            files=REQUIRED_FILES if minimal else None,
            date_style=date_style,  # type: ignore[arg-type]
        )
    except DentrixHighLevelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc
    elapsed = time.monotonic() - started
    rows = sum(result.rows.values())
    click.echo(
        f"wrote {result.patients} patients, {rows} rows in {len(result.rows)} files "
        f"({result.encoding}) to {result.path} in {elapsed:.1f}s"
    )
    if result.defects:
        kinds: dict[str, int] = {}
        for defect in result.defects:
            kinds[defect.kind] = kinds.get(defect.kind, 0) + 1
        click.echo("injected defects: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
