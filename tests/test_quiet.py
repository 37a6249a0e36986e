"""laf.quiet's stderr filter: known noise goes, everything else (tracebacks included) stays."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from laf.quiet import _LineFilter, _pump

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
    lines = [b"E0000 cuda_dnn.cc:10575] Unable to register cuDNN factory: ...\n",
             b"E0000 cuda_fft.cc:477] Unable to register cuFFT factory: ...\n",
             b"2026-12-05 09:29:53.566857: E tensorflow/core/util/util.cc:131] oneDNN supports DT_BOOL only on"
             b" platforms with AVX-512. Falling back to the default Eigen-based implementation if present.\n",
             b"real error: disk full\n",
             b"\xff not utf-8 \n", b"E1204 cuda_dnn.cc:535] Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR\n"]
    assert run(lines) == lines[3:]


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


LAF = os.path.join(os.path.dirname(sys.executable), "laf")


def test_a_tf_command_ends_without_the_exit_traceback(tmp_path):
    """The console script filters stderr up to the very end of the process: TF's AtomicFunction
    block, printed while the interpreter tears down, no longer slips through."""
    folder = tmp_path / "images" / "Diving__Platform"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(folder / f"{i}.jpg")
    done = subprocess.run([LAF, "extract", "images", "--root", str(tmp_path / "images"), "--output",
                           str(tmp_path / "out"), "--input-size", "32", "--weights", "none"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 2
    assert "Traceback" not in done.stderr and "AtomicFunction" not in done.stderr, done.stderr


def test_the_filter_drains_the_command_s_stderr_after_its_reader_left():
    """`laf ... 2>&1 | head`: once head exits, writing to it fails; the filter must still read the
    command's stderr to its end (a full pipe would block the command) and not fail itself."""
    source_r, source_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(out_r)  # the reader has left
    writer = subprocess.Popen([sys.executable, "-c", "import os, sys; os.write(int(sys.argv[1]), b'a line\\n' * 50000)",
                               str(source_w)], pass_fds=(source_w,))  # 400 kB: more than a pipe holds
    os.close(source_w)
    _pump(source_r, out_w)  # returns once the writer is done, having read everything
    assert writer.wait(timeout=60) == 0
    os.close(out_w)


def test_the_console_script_stops_quietly_when_its_output_s_reader_left(tmp_path):
    """`laf ... | head`: the result line meets a closed pipe; the command ends as killed by SIGPIPE
    would (141), without a traceback or an "error" line."""
    folder = tmp_path / "images" / "Diving__Platform"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((40, 50, 3), 60, np.uint8)).save(folder / "0.jpg")
    proc = subprocess.Popen([LAF, "extract", "images", "--root", str(tmp_path / "images"), "--output",
                             str(tmp_path / "out"), "--input-size", "32", "--weights", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, stderr
    assert "Traceback" not in stderr and "error" not in stderr, stderr


def test_the_console_script_keeps_the_exit_status_and_the_error_line(tmp_path):
    done = subprocess.run([LAF, "run", "--config", str(tmp_path / "absent.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == f"laf run: error: config file not found: {tmp_path / 'absent.yaml'}\n"
