"""The ``dentrix-highlevel`` command line.

Each command group lives in its own private module and is registered here; commands print identifiers
and counts, never patient values, and turn our errors into one clear sentence and an exit code:
0 success, 1 finished with failed records, 2 usage or configuration error, 3 refused, 4 stopped before the
end and resumable (run the same command again), 5 internal error (see ``cli/_common.py``).
"""

from __future__ import annotations

from typing import Any

import click

from dentrix_highlevel._version import __version__
from dentrix_highlevel.cli._common import error_console, exit_code_for, handle_termination
from dentrix_highlevel.cli._demo import demo as _demo_command
from dentrix_highlevel.cli._migrate import COMMANDS as _migration_commands
from dentrix_highlevel.cli._sandbox import sandbox as _sandbox_group
from dentrix_highlevel.cli._synth import synth as _synth_command

__all__ = ["main"]


class _Main(click.Group):
    """The command group; an interrupt (Ctrl-C, SIGTERM) anywhere is exit 4 with the resume hint, never a
    traceback (a command's own ``--debug`` handler sees it first when it runs)."""

    def invoke(self, ctx: click.Context) -> Any:
        handle_termination()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            code, message = exit_code_for(KeyboardInterrupt())
            error_console.print(f"error: {message}", markup=False)
            ctx.exit(code)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dentrix-highlevel")
def main() -> None:
    """Move a dental practice's data from Dentrix into HighLevel."""


main.add_command(_sandbox_group)
main.add_command(_synth_command)
main.add_command(_demo_command)
for _command in _migration_commands:
    main.add_command(_command)
