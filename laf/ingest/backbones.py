"""The shared CNN representation (paper §3.1): one Keras backbone for frames and images.

Video frames and web images must land in the same feature space, so both ingestion paths
call ``build_backbone`` with the same arguments and feed it uint8 RGB batches.
``weights``: ``"imagenet"`` (Keras' own download, needs internet), ``"none"`` (random
init, deterministic for ``seed``: every worker builds the identical network), or a path to
a weights file (e.g. one written by ``save_weights``).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import random
import threading
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

PUBLIC_WEIGHTS = ("imagenet", "none", "")  # weights named by keyword, not files: Keras' download, random, none given
# name -> (keras.applications constructor name, preprocess module, default input size)
MIN_INPUT_SIZE = 32  # pixels: the smallest input the Keras application backbones build for ...
_MIN_INPUT_SIZES = {"inception_v3": 75}  # ... but these (keras.applications' own `min_size`)

BACKBONES: Dict[str, tuple] = {
    "mobilenet_v3_small": ("MobileNetV3Small", None, 224),
    "mobilenet_v3_large": ("MobileNetV3Large", None, 224),
    "efficientnet_b0": ("EfficientNetB0", None, 224),
    "resnet50": ("ResNet50", "resnet50", 224),
    "inception_v3": ("InceptionV3", "inception_v3", 299),
}


def min_input_size(name: str) -> int:
    """The smallest input (pixels) backbone ``name`` builds for: checked with the settings, not by Keras
    once TF has loaded (or on the cluster, for a compiled pipeline)."""
    return _MIN_INPUT_SIZES.get(name, MIN_INPUT_SIZE)


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    name: str = "mobilenet_v3_small"
    weights: str = "none"          # "imagenet" | "none" | path to a weights file
    layer: Optional[str] = None     # None: global-average-pooled top; else a named layer
    input_size: Optional[int] = None
    seed: int = 0

    @property
    def size(self) -> int:
        return self.input_size or BACKBONES[self.name][2]

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> "BackboneConfig":
        """From the pipeline config's ``features`` section, which is also VideoIngest's and
        ImageIngest's execution properties (empty values: the defaults)."""
        return cls(name=props["backbone"], weights=props.get("weights") or "none", layer=props.get("layer") or None,
                   input_size=int(props.get("input_size") or 0) or None)


def _resolve_weights(weights: str):
    if weights == "imagenet":
        return "imagenet"
    if weights in ("none", "", None):
        return None
    if "://" in weights:
        return local_copy(weights)
    if not os.path.exists(weights):
        raise FileNotFoundError(f"backbone weights file not found: {weights}")
    return weights


def local_copy(uri: str) -> str:
    """A local copy of a weights file on any ``tf.io.gfile`` file system (``gs://``,
    ...): Keras opens weights files by local path only. Cached per URI, size and modification
    time, so each worker fetches it once. A file system that reports no modification time (TF's
    ``ram://``) is fetched on every call and its copy named by content: a file replaced by another
    of the same length would otherwise be read from the old copy."""
    import hashlib
    import tempfile

    import tensorflow as tf

    if not tf.io.gfile.exists(uri):
        raise FileNotFoundError(f"backbone weights file not found: {uri}")
    stat = tf.io.gfile.stat(uri)
    cache = os.path.join(tempfile.gettempdir(), "laf-weights")
    os.makedirs(cache, exist_ok=True)
    fetched = None if stat.mtime_nsec else _fetch(uri, cache)  # no time: this copy, named by its content
    key = (hashlib.sha256(f"{uri}\n{stat.length}\n{stat.mtime_nsec}".encode()) if fetched is None
           else _file_digest(fetched)).hexdigest()[:16]
    local = os.path.join(cache, key, os.path.basename(uri))
    if fetched is not None or not os.path.exists(local):
        os.makedirs(os.path.dirname(local), exist_ok=True)
        os.replace(fetched or _fetch(uri, cache), local)  # the same bytes as any copy already there
    return local


def _file_digest(path: str):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest


def _fetch(uri: str, folder: str) -> str:
    """``uri`` copied to a file in ``folder`` that no other process or thread writes."""
    import tensorflow as tf

    partial = os.path.join(folder, f"{os.path.basename(uri)}.{os.getpid()}.{threading.get_ident()}.partial")
    tf.io.gfile.copy(uri, partial, overwrite=True)
    return partial


def check_weights(config: BackboneConfig) -> None:
    """Fail in one line, before any Beam work, when the backbone cannot be built: a missing weights
    file or one of another backbone or input size, a layer it does not have, or ImageNet weights
    that Keras cannot download (no internet) and has not cached. Inside Beam workers each shows as
    pages of traceback, after the run has started. Builds the backbone once (a few seconds), which
    also caches ImageNet weights for local workers."""
    with build_errors(config):
        _build(config)


@contextlib.contextmanager
def build_errors(config: BackboneConfig):
    """Why building ``config``'s backbone failed, as one :class:`UserError` line (see :func:`check_weights`);
    for callers that build it themselves (``laf localize``), so it is built once."""
    from laf.errors import UserError, first_line

    try:
        yield
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    except (ValueError, OSError) as e:  # Keras: no such layer, weights of other shapes; h5py: not a weights file
        raise UserError(f"backbone {config.name} (weights {config.weights}, layer {config.layer or 'top'}, input"
                        f" size {config.size}): {first_line(str(e))[:300]}") from None
    except Exception as e:  # Keras raises a bare Exception for a failed download; TF its own OpError
        import tensorflow as tf

        if isinstance(e, tf.errors.OpError):  # a remote weights file it cannot read
            raise UserError(f"backbone weights {config.weights}: {first_line(e.message)}") from None
        if config.weights != "imagenet":
            raise
        raise UserError(f"cannot get ImageNet weights for {config.name} ({e}); without internet use weights"
                        f" 'none' or a weights file") from None


def build_backbone(config: BackboneConfig):
    """A Keras model: uint8/float RGB [B, H, W, 3] in 0..255 at ``config.size`` -> [B, D]."""
    return _build(config)[0]


@contextlib.contextmanager
def _fresh_layer_names():
    """Keras numbers auto-named layers per process (``activation_18`` when 18 were built
    before); a weights file stores those names, so without a fresh count the same weights
    give other bytes depending on what the process built earlier."""
    from keras.src.backend.common import global_state

    key = "object_name_uids"
    before = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute(key, before)


@contextlib.contextmanager
def _own_random_stream(seed: int):
    """Keras 3 initializers take their seeds from Python's process-wide ``random`` as they are
    built, so another thread drawing from it meanwhile (a Dask worker's event loop does) changes
    random weights. A private ``random.Random(seed)`` gives the very numbers that ``random.seed(seed)``
    gives an undisturbed process."""
    from keras.src.random import seed_generator

    before = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = before


_BUILD_LOCK = threading.Lock()  # one build at a time: the two contexts below swap process state


def _build(config: BackboneConfig):
    """(feature model, the keras.applications base inside it); its layer names and random
    weights are the same in any process and thread (``_fresh_layer_names``, ``_own_random_stream``)."""
    with _BUILD_LOCK, _fresh_layer_names(), _own_random_stream(config.seed):
        return _build_model(config)


def _build_model(config: BackboneConfig):
    import keras

    if config.name not in BACKBONES:
        raise ValueError(f"unknown backbone {config.name!r}; choose one of {sorted(BACKBONES)}")
    ctor_name, preprocess_module, _ = BACKBONES[config.name]
    weights = _resolve_weights(config.weights)
    keras.utils.set_random_seed(config.seed)
    ctor = getattr(keras.applications, ctor_name)
    kwargs = dict(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                  input_shape=(config.size, config.size, 3))
    if config.layer is None:
        kwargs["pooling"] = "avg"
    base = ctor(**kwargs)
    if weights not in (None, "imagenet"):
        base.load_weights(weights)
    inputs = keras.Input((config.size, config.size, 3), dtype="float32", name="rgb")
    x = inputs
    if preprocess_module is not None:
        x = getattr(keras.applications, preprocess_module).preprocess_input(x)
    if config.layer is None:
        outputs = base(x)
    else:
        tapped = keras.Model(base.inputs, base.get_layer(config.layer).output)
        outputs = tapped(x)
        if len(outputs.shape) == 4:
            outputs = keras.layers.GlobalAveragePooling2D()(outputs)
        elif len(outputs.shape) != 2:
            raise ValueError(f"layer {config.layer!r} has output rank {len(outputs.shape)}; need 2 or 4")
    return keras.Model(inputs, outputs, name=f"{config.name}_features"), base


def calibrate(config: BackboneConfig, images: np.ndarray, path: str) -> str:
    """Write a weights file for offline use: the backbone's (random or given) weights with
    every BatchNorm's statistics re-estimated on ``images`` [N, size, size, 3].

    Without ImageNet weights, a randomly initialised network's BatchNorm statistics
    (mean 0, var 1) make deep activations collapse to ~0; data-dependent statistics keep
    the random features informative (colour, texture, layout), which is what the offline
    demo and tests need. Users with internet use ``weights="imagenet"`` instead.
    """
    import keras

    model, base = _build(config)
    for layer in base._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0  # moving stats := this batch's stats
    model(np.asarray(images, np.float32), training=True)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"weights path must end with .weights.h5 (Keras 3): {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path[:-len('.weights.h5')]}.{os.getpid()}.partial.weights.h5"  # Keras writes in place
    try:
        base.save_weights(partial)
        os.replace(partial, path)  # whole or not at all: a file cut short was reused by every later run
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def feature_fn(config: BackboneConfig) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled batch function uint8 [B, size, size, 3] -> float32 [B, D]."""
    import tensorflow as tf

    model = build_backbone(config)
    fn = tf.function(lambda x: model(tf.cast(x, tf.float32), training=False), reduce_retracing=True)

    def run(batch: np.ndarray) -> np.ndarray:
        return fn(batch).numpy().astype(np.float32)

    return run


class SharedModel:
    """A built ``feature_fn`` (``run``), in a weak-referenceable holder for ``shared.Shared``."""

    def __init__(self, config: BackboneConfig):
        self.run = feature_fn(config)


_SHARED = None  # one handle per process (apache_beam.utils.shared.Shared), made on first use


def shared_model(config: BackboneConfig) -> SharedModel:
    """``feature_fn(config)`` built once per worker process and handed to every DoFn there. It
    outlives a pipeline run (Beam keeps the most recently acquired object alive), so a
    long-lived worker builds it once; a rewritten weights file (new mtime) is built anew.
    Keep the returned holder, not only its ``run``: the holder is what stays shared."""
    global _SHARED
    from apache_beam.utils import shared

    if _SHARED is None:
        _SHARED = shared.Shared()
    try:
        stamp = os.path.getmtime(config.weights)
    except OSError:
        stamp = None
    return _SHARED.acquire(lambda: SharedModel(config), tag=f"{config!r}@{stamp}")
