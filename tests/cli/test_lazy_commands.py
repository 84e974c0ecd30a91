"""The command list ``--help`` shows without importing the commands is the commands' own."""

from __future__ import annotations

import click
import pytest

from dentrix_highlevel.cli import _COMMANDS, main


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_each_summary_is_the_commands_own(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert command.name == name
    stored = click.Command(name, help=_COMMANDS[name][2])
    for limit in (45, 60, 300):
        assert stored.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_every_command_is_listed_and_runs_its_help() -> None:
    from click.testing import CliRunner

    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in _COMMANDS:
        assert f"  {name} " in listed.output
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0, name
