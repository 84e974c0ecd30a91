"""``dentrix-highlevel synth`` writes a practice and says what it wrote (counts only)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dentrix_highlevel.cli import main


def test_synth_writes_a_zip_and_reports_counts(tmp_path: Path) -> None:
    out = tmp_path / "practice.zip"
    result = CliRunner().invoke(
        main, ["synth", "--out", str(out), "--patients", "150", "--seed", "3", "--dirty", "2"]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "wrote 150 patients" in result.output
    assert "injected defects:" in result.output
    assert "bad_number=" in result.output


def test_synth_minimal_cp1252_and_refusals(tmp_path: Path) -> None:
    out = tmp_path / "min"
    result = CliRunner().invoke(
        main, ["synth", "--out", str(out), "--patients", "20", "--minimal", "--encoding", "cp1252"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.csv"))) == 9
    again = CliRunner().invoke(main, ["synth", "--out", str(out)])
    assert again.exit_code == 2
    bad_zone = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "z"), "--timezone", "Nowhere/Land"])
    assert bad_zone.exit_code == 2
    assert "time zone" in bad_zone.output


def test_synth_zip_flag_adds_the_suffix(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["synth", "--patients", "12", "--out", str(tmp_path / "practice"), "--zip", "--encoding", "utf-8"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "practice.zip").is_file()
    assert not (tmp_path / "practice").exists()


def test_synth_requires_out(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["synth", "--patients", "12"])
    assert result.exit_code == 2
    assert "--out" in result.output
