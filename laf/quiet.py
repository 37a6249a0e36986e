"""Silence the import-time noise of TF/absl/Google API clients without hiding real errors.

Only known-noisy categories are filtered (deprecation and version-support notices);
errors and other warnings still reach the user.
"""
import logging
import os
import warnings

_NOISY_MODULES = (
    r"google\..*", r"tensorflow.*", r"tfx.*", r"tensorflow_.*", r"apache_beam.*",
    r"keras.*", r"tf_keras.*", r"absl.*", r"kfp.*", r"pkg_resources.*", r"ml_metadata.*",
    r"jupyter.*", r"proto.*", r"setuptools.*", r"tfx_bsl.*",
)


def quiet() -> None:
    """Apply the filters; safe to call more than once, before or after importing TF."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # drop TF C++ INFO/WARNING, keep ERROR
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        for module in _NOISY_MODULES:
            warnings.filterwarnings("ignore", category=category, module=module)
    warnings.filterwarnings("ignore", message=r".*non-supported Python version.*")
    _child_filter("ignore:You are using a non-supported Python version:FutureWarning")
    warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # Beam's multi-processing workers relay every log line here at its own level: keep their
    # errors, drop their start-up warnings (unparsed DirectRunner flags, no __main__ session).
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)
    except ImportError:  # absl is a TF dependency; absent only in minimal installs
        pass


def _child_filter(spec: str) -> None:
    """The same filter for child processes (Beam's multi-processing workers) via PYTHONWARNINGS."""
    current = os.environ.get("PYTHONWARNINGS", "")
    if spec not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, spec]))


# C++ log lines that TF/XLA print at import on CPU-only machines (duplicate CUDA plugin
# registration, oneDNN notices). Matched exactly, so every other stderr line still shows.
NOISE_LINES = (
    r"Unable to register cu(FFT|DNN|BLAS) factory",
    r"oneDNN custom operations are on",
    r"TF-TRT Warning: Could not find TensorRT",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* in other operations, rebuild TensorFlow",
    r"Couldn't find python-snappy",
    r"computation placer already registered",
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"Unable to register cu(DNN|FFT|BLAS) factory",  # only that: other lines of cuda_*.cc are real errors
    r"oneDNN supports DT_BOOL only on platforms with AVX-512\. Falling back to the default Eigen",  # at "E" level
)
# A harmless traceback TF prints when a process (e.g. a Beam worker) exits: a tf.function's
# finaliser runs after module globals are gone. Dropped only when the whole block is exactly it.
EXIT_NOISE = (r"^Exception ignored in: <function AtomicFunction\.__del__", r"^Traceback \(most recent call last\)",
              r'^  File ".*atomic_function\.py", line \d+, in __del__', r"^TypeError: 'NoneType' object is not subscriptable")


class _LineFilter:
    """Decides line by line what reaches the terminal: drops ``NOISE_LINES`` and whole
    ``EXIT_NOISE`` blocks; a block that turns out different is passed on in full."""

    def __init__(self):
        import re

        self._noise = re.compile("|".join(NOISE_LINES))
        self._block = [re.compile(p) for p in EXIT_NOISE]
        self._held: list = []

    def feed(self, line: bytes) -> list:
        """The lines to show now (held lines included, when the block does not match)."""
        text = line.decode("utf-8", "replace")
        if self._held or self._block[0].search(text):
            if not self._block[len(self._held)].search(text):  # not this block after all
                shown, self._held = self._held, []
                return shown + self.feed(line)  # the line itself may be noise or a new block
            self._held.append(line)
            if len(self._held) == len(self._block):
                self._held = []
            return []
        return [] if self._noise.search(text) else [line]

    def flush(self) -> list:
        shown, self._held = self._held, []
        return shown


def filter_stderr() -> None:
    """Route fd 2 of the rest of this command through a filter that drops the noise above.

    TF's C++ logging writes to the process's fd 2 directly, so Python's warnings filters
    cannot reach it; lowering TF_CPP_MIN_LOG_LEVEL would also hide real C++ errors. The
    command goes on in a forked child whose fd 2 is a pipe; this process (the one the shell
    waits for) filters the pipe until every writer is gone, then exits with the child's
    status. So the exit block TF prints while the child's interpreter tears down (after every
    atexit handler) is filtered too, and nothing arrives after the shell's next prompt.
    Call it before TF loads: the fork then copies a small, single-threaded process.
    """
    import signal
    import sys

    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # the command
        os.close(read_fd)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        # backslashreplace, as Python's own stderr: a file name that is no UTF-8 (a surrogate) crashed the print
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False, errors="backslashreplace")
        return
    os.close(write_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child too: its to report
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    _pump(read_fd, 2)
    status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    os._exit(status if status >= 0 else 128 - status)


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy filtered lines until every writer of the pipe is gone. Once the reader of ``out_fd`` has
    left (``laf ... 2>&1 | head``), the pipe is still drained, so the command is never blocked on it."""
    lines, reader_left = _LineFilter(), False

    def write(data: bytes) -> None:
        nonlocal reader_left
        if not reader_left:
            try:
                os.write(out_fd, data)
            except BrokenPipeError:
                reader_left = True

    with os.fdopen(read_fd, "rb") as src:
        for line in src:
            for shown in lines.feed(line):
                write(shown)
    for shown in lines.flush():
        write(shown)
