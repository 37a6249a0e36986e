"""The `laf` console script as a user runs it."""
import os
import subprocess
import sys

from laf import cli

LAF = os.path.join(os.path.dirname(sys.executable), "laf")


def test_help_lists_every_registered_subcommand():
    out = subprocess.run([LAF, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for name in cli.COMMANDS:
        assert name in out.stdout
    assert "Traceback" not in out.stderr


def test_unknown_subcommand_is_one_line_error(capsys):
    try:
        cli.main(["frobnicate"])
    except SystemExit as e:
        assert e.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "Traceback" not in err


def test_every_subcommand_has_help(capsys):
    for name in cli.COMMANDS:
        try:
            cli.main([name, "--help"])
        except SystemExit as e:
            assert e.code == 0, name
        assert f"usage: laf {name}" in capsys.readouterr().out
