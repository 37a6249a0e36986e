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
