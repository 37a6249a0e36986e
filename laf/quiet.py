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
    warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)
    except ImportError:  # absl is a TF dependency; absent only in minimal installs
        pass


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
    r"Unable to register cuDNN|cuda_(fft|dnn|blas)\.cc",
)


def filter_stderr() -> None:
    """Route fd 2 through a thread that drops the known C++ noise lines above.

    TF's C++ logging writes to the process's fd 2 directly, so Python's warnings filters
    cannot reach it; lowering TF_CPP_MIN_LOG_LEVEL would also hide real C++ errors.
    """
    import atexit
    import re
    import sys
    import threading

    pattern = re.compile("|".join(NOISE_LINES))
    read_fd, write_fd = os.pipe()
    original = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as src:
            for line in src:
                if not pattern.search(line.decode("utf-8", "replace")):
                    os.write(original, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        """Put the real stderr back and drain the pipe, so no last line (a traceback) is lost."""
        sys.stderr.flush()
        os.dup2(original, 2)  # closes our end of the pipe: the pump sees EOF once drained
        thread.join(timeout=2)

    atexit.register(restore)
