"""``--debug`` shows what the server answered (``debug_detail``: it can hold patient data) only when stderr
is a terminal; otherwise, and without ``--debug``, the one-sentence error names status and fields only."""

from __future__ import annotations

import pytest

from dentrix_highlevel.cli._common import debug_option, server_answers
from dentrix_highlevel.errors import AmbiguousWriteError, ValidationError

PHI = "PHI-MARKER-Jane-Doe-1955"


def _refused() -> ValidationError:
    error = ValidationError(
        "HighLevel rejected the request: email (invalid)",
        messages=("email (invalid)",),
        fields=("email",),
        method="POST",
        path="/contacts/",
        status_code=422,
    )
    error._debug_detail = f'HTTP 422: {{"message": ["{PHI} must be an email"]}}'
    return error


@debug_option
def _command() -> None:
    # As the client raises it for a create: the refusal is the cause of an ambiguous write.
    raise AmbiguousWriteError(
        "contact create may or may not have happened", resource="contact"
    ) from _refused()


def _run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *, debug: bool, tty: bool
) -> str:
    monkeypatch.delenv("DENTRIX_HIGHLEVEL_DEBUG", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: tty)
    with pytest.raises(SystemExit):
        _command(debug=debug)
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_the_detail_is_found_through_the_cause_chain() -> None:
    with pytest.raises(AmbiguousWriteError) as caught:
        _command.__wrapped__()  # type: ignore[attr-defined]
    assert server_answers(caught.value) == [_refused().debug_detail]
    assert PHI not in str(_refused()) + repr(_refused())


@pytest.mark.parametrize(("debug", "tty"), [(False, False), (False, True), (True, False)])
def test_no_server_text_off_a_terminal_or_without_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, debug: bool, tty: bool
) -> None:
    shown = _run(capsys, monkeypatch, debug=debug, tty=tty)
    assert "error: contact create may or may not have happened" in shown
    assert PHI not in shown
    if debug:
        assert "on a terminal only" in shown


def test_debug_on_a_terminal_shows_what_the_server_answered(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _run(capsys, monkeypatch, debug=True, tty=True)
    assert "never saved" in shown
    assert PHI in shown
