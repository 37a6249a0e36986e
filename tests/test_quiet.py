"""laf.quiet's stderr filter: known noise goes, everything else (tracebacks included) stays."""
import os

from laf.quiet import _LineFilter

EXIT_BLOCK = [
    b"Exception ignored in: <function AtomicFunction.__del__ at 0x7f9a34d05900>\n",
    b"Traceback (most recent call last):\n",
    b'  File "/v/tensorflow/python/eager/polymorphic_function/atomic_function.py", line 291, in __del__\n',
    b"TypeError: 'NoneType' object is not subscriptable\n",
]


def run(lines):
    f = _LineFilter()
    shown = [out for line in lines for out in f.feed(line)]
    return shown + f.flush()


def test_noise_lines_go_and_other_lines_stay():
    lines = [b"E0000 cuda_dnn.cc:10575] Unable to register cuDNN factory: ...\n", b"real error: disk full\n",
             b"\xff not utf-8 \n"]
    assert run(lines) == lines[1:]


def test_the_exit_traceback_block_goes_whole():
    assert run([b"before\n", *EXIT_BLOCK, b"after\n"]) == [b"before\n", b"after\n"]


def test_a_different_traceback_after_the_same_opening_is_shown_in_full():
    other = EXIT_BLOCK[:3] + [b"RuntimeError: something real\n"]
    assert run(other + [b"after\n"]) == other + [b"after\n"]
    assert run(EXIT_BLOCK[:2]) == EXIT_BLOCK[:2]  # cut short at exit: flushed, not lost


def test_child_processes_get_the_warning_filter_once(monkeypatch):
    from laf.quiet import quiet

    monkeypatch.setenv("PYTHONWARNINGS", "error::ResourceWarning")
    quiet()
    quiet()
    specs = os.environ["PYTHONWARNINGS"].split(",")
    assert specs[0] == "error::ResourceWarning"
    assert specs.count("ignore:You are using a non-supported Python version:FutureWarning") == 1


def test_a_line_that_breaks_a_block_is_judged_itself():
    partial = EXIT_BLOCK[:2]
    noise = b"E0000 cuda_blas.cc:1442] Unable to register cuBLAS factory\n"
    assert run(partial + EXIT_BLOCK + [b"x\n"]) == partial + [b"x\n"]  # a new block starts: dropped whole
    assert run(partial + [noise, b"y\n"]) == partial + [b"y\n"]
