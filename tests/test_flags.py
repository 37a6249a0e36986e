"""laf.commands.flags: NaN and infinite flag values are usage errors at parsing, in every subcommand."""
import argparse

import pytest

from laf.cli import main
from laf.commands.flags import finite


def test_finite_takes_numbers_and_refuses_the_rest():
    assert finite("2.5") == 2.5 and finite("-1") == -1.0
    for text, message in (("nan", "must be a finite number"), ("-inf", "must be a finite number"),
                          ("Infinity", "must be a finite number"), ("fast", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            finite(text)


@pytest.mark.parametrize("argv, flag", [
    (["extract", "features", "--manifest", "m.csv", "--output", "o", "--rate", "nan"], "--rate"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--fps", "nan"], "--fps"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--max-duration", "nan"], "--max-duration"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--keyframe-window", "inf"], "--keyframe-window"),
    (["demo-data", "--output", "d", "--scale", "nan"], "--scale"),
    (["demo", "--output", "d", "--scale", "inf"], "--scale"),
    (["localize", "--model", "m", "v.mp4", "--on", "nan"], "--on"),
    (["localize", "--model", "m", "v.mp4", "--min-length=-inf"], "--min-length"),
])
def test_subcommands_refuse_non_finite_values(argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and f"argument {flag}: must be a finite number" in capsys.readouterr().err
