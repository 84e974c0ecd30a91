"""The ``dentrix-highlevel`` command line.

Each command group lives in its own private module and is registered here by name; commands print
identifiers and counts, never patient values, and turn our errors into one clear sentence and an exit
code: 0 success, 1 finished with failed records, 2 usage or configuration error, 3 refused, 4 stopped
before the end and resumable (run the same command again), 5 internal error (see ``cli/_common.py``).

A command's module is imported only when that command runs: ``dentrix-highlevel --help`` lists them from
the summaries below and loads neither the client, the engine nor the sandbox (``tests/cli`` checks the
summaries are the commands' own).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

#: name -> (module, attribute, the first sentence of its help: what ``--help`` shows).
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "approve": (
        "dentrix_highlevel.cli._migrate",
        "approve_command",
        "Record that NAME approved the plan in the work directory, exactly as it is now.",
    ),
    "clean": (
        "dentrix_highlevel.cli._migrate",
        "clean_command",
        "Remove the work directory's regenerable files (the staged export copy, reports); never the ledger.",
    ),
    "delta": (
        "dentrix_highlevel.cli._migrate",
        "delta_command",
        "Send only what is new or changed in a newer export (patients gone from it per the plan's policy).",
    ),
    "demo": (
        "dentrix_highlevel.cli._demo",
        "demo",
        "Run a whole migration of a synthetic practice against the embedded HighLevel sandbox.",
    ),
    "doctor": (
        "dentrix_highlevel.cli._migrate",
        "doctor_command",
        (
            "Check, without writing, that the location can take the plan: token, scopes, settings, "
            "pipeline, calendars, daily budget, workflows."
        ),
    ),
    "fleet": (
        "dentrix_highlevel.cli._fleet",
        "fleet",
        "Migrate many offices at once from a fleet manifest (one HighLevel sub-account per office).",
    ),
    "plan": (
        "dentrix_highlevel.cli._migrate",
        "plan_command",
        "Read the source and the HighLevel location and write the mapping plan (plan.md, plan.json).",
    ),
    "reconcile": (
        "dentrix_highlevel.cli._migrate",
        "reconcile_command",
        "Account for every source record per kind and re-read every migrated contact against the plan.",
    ),
    "recover": (
        "dentrix_highlevel.cli._migrate",
        "recover_command",
        (
            "Rebuild a lost (new or empty) ledger from HighLevel: contacts by Source System ID and Source "
            "Practice ID, uploads by name; then `run` continues and `reconcile` / `rollback` work as before."
        ),
    ),
    "report": (
        "dentrix_highlevel.cli._migrate",
        "report_command",
        "Summarise the work directory offline (plan, approval, runs, failed records) into report.md.",
    ),
    "rollback": (
        "dentrix_highlevel.cli._migrate",
        "rollback_command",
        "Delete what the migration created and restore what it changed (idempotent, resumable).",
    ),
    "run": (
        "dentrix_highlevel.cli._migrate",
        "run_command",
        "The full run (resumes an unfinished one); refuses an unapproved or changed plan.",
    ),
    "sample": (
        "dentrix_highlevel.cli._migrate",
        "sample_command",
        "Migrate a stratified sample, read it back and write the field-level diff report.",
    ),
    "sandbox": (
        "dentrix_highlevel.cli._sandbox",
        "sandbox",
        "The HighLevel API v2 sandbox (an emulator on loopback).",
    ),
    "synth": (
        "dentrix_highlevel.cli._synth",
        "synth",
        "Write a deterministic synthetic practice as a Dentrix G export (folder or .zip).",
    ),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use (``_COMMANDS``). An interrupt (Ctrl-C, SIGTERM)
    anywhere is exit 4 with the resume hint, never a traceback (a command's own ``--debug`` handler sees it
    first when it runs)."""

    def invoke(self, ctx: click.Context) -> Any:
        # Imported here, not at the top: ``--help`` never reaches invoke and stays light.
        from dentrix_highlevel.cli._common import error_console, exit_code_for, handle_termination

        handle_termination()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            code, message = exit_code_for(KeyboardInterrupt())
            error_console.print(f"error: {message}", markup=False)
            ctx.exit(code)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module, attribute, _ = entry
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = _COMMANDS.get(name)
            summary = (
                click.Command(name, help=entry[2]).get_short_help_str(limit)
                if entry is not None
                else self.commands[name].get_short_help_str(limit)
            )
            rows.append((name, summary))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dentrix-highlevel", prog_name="dentrix-highlevel")
def main() -> None:
    """Move a dental practice's data from Dentrix into HighLevel."""
