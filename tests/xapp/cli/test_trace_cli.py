"""rrm trace: refusals are one line with exit code 2."""

from rrm.cli import main


def test_record_without_a_file_is_refused(capsys):
    assert main(["trace", "record", "--slots", "1"]) == 2
    assert "trace record needs --record FILE" in capsys.readouterr().err


def test_export_of_a_missing_trace_is_one_line(tmp_path, capsys):
    assert main(["trace", "export", str(tmp_path / "none.rrmtrace"),
                 "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rrm trace export: error:")
