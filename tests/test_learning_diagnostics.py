"""bench/learning_diagnostics.py: user mistakes are one line, not a traceback (the numbers
themselves are checked on a real run by tests/test_trainer.py and in laf.evaluate.diagnostics)."""
from bench import learning_diagnostics


def test_a_folder_that_is_no_run_is_a_one_line_error(tmp_path, capsys):
    assert learning_diagnostics.main(["--pipeline-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("learning_diagnostics: error:") and "metadata.sqlite not found" in err
    assert len(err.strip().splitlines()) == 1
