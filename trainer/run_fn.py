"""TFX Trainer entry point: ``Trainer(run_fn="trainer.run_fn.run_fn", custom_config={...})``.

Hyperparameters come from ``custom_config`` (keys = ``TrainerConfig`` fields, paper defaults).
Where the sizes come from:
- feature dimension D: ``feature_dim`` in custom_config, else the first training record;
- number of classes N: the ``vocabulary`` labels.json (file or directory; ``num_classes`` must
  agree), else the ``labels.json`` the examples artifact carries (DomainTransfer writes it beside
  its splits), else ``num_classes``, else 1 + the largest label index in the train/eval records.
  A vocabulary found either way is also copied into the SavedModel's ``assets/``, with the
  featurizer of ``features`` (the pipeline's backbone and fps: ``laf.serve.assets``), so the
  pushed model localizes raw videos on its own; with that backbone in the graph too
  (``localize_frames``), it localizes encoded frames sent by a client that has no feature extractor.
Model selection (early stopping, learning-rate decay, the restored best epoch) watches video
Hit@1 on the eval split under the product's fusion plus the eval split's frame accuracy weighted
as the variant trains (``trainer.selection``) - not a uniform frame loss that ~90 % context frames
dominate and that rewards nothing a weighted variant learns. An earlier epoch replaces the last
one only when it was better by more than one eval video. The network standardises its input
with the train split's moments (kept in the exported model).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from laf.errors import UserError
from laf.evaluate.evaluation import LocalizeConfig
from laf.serve import assets as serving_assets
from laf.serve.localize import settings_from_features
from schemas.vocabulary import Vocabulary
from trainer import data, model, novelty, selection, serving
from trainer.choices import BASELINES, LR_SCHEDULES, OPTIMIZERS, VARIANTS


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Trainer hyperparameters; defaults are the paper's (§4.2) where it gives them."""

    variant: str = "laf"                # laf | uniform | random30 | oracle | cnn (single-frame)
    actionness: bool = True             # actionness head + actionness fusion; False = the paper's scheme
    cells: int = 1024
    projection: int = 512
    num_layers: int = 1
    dropout: float = 0.0
    cnn_hidden: Tuple[int, ...] = (512, 512)
    cnn_dropout: float = model.CNN_DROPOUT  # the single-frame baseline's (AlexNet's FC layers' 0.5)
    optimizer: str = "sgd"              # any keras.optimizers name
    learning_rate: float = 0.0024
    lr_schedule: str = "plateau"        # plateau | cosine (see learning_rate_schedule)
    lr_decay_factor: float = 0.1        # plateau: applied when the selection quantity plateaus (trainer.selection)
    lr_decay_patience: int = 4
    k: int = 20                         # truncated-BPTT unroll length
    batch: int = 12                     # parallel video streams
    epochs: int = 60
    early_stopping_patience: int = 10
    carry_across_videos: float = 0.5    # share of training videos started from the previous one's state
                                        # (a live stream never resets); 0 = the paper's: each from zero
    seed: int = 0
    tensorboard_update_freq: int = 10   # steps between per-step TensorBoard points
    num_classes: Optional[int] = None
    vocabulary: Optional[str] = None
    feature_dim: Optional[int] = None
    localize: Optional[Mapping[str, Any]] = None  # laf.evaluate.evaluation.LocalizeConfig fields, for `localize`
    features: Optional[Mapping[str, Any]] = None  # the pipeline's features section, for the model's assets

    @property
    def architecture(self) -> str:
        return "cnn" if self.variant == "cnn" else "lstmp"

    @property
    def weighting(self) -> str:
        """The CNN baseline is trained on every frame alike."""
        return "uniform" if self.variant == "cnn" else self.variant

    @property
    def uses_novelty(self) -> bool:
        """The product's method (LAF + actionness) alone trains on sibling novelty."""
        return self.actionness and self.weighting == "laf"

    @classmethod
    def from_custom_config(cls, custom: Optional[Mapping[str, Any]]) -> "TrainerConfig":
        custom = dict(custom or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(custom) - set(fields))
        if unknown:
            raise ValueError(f"unknown trainer setting(s) {unknown}; known: {sorted(fields)}")
        config = cls(**{key: _converted(key, value, fields[key].default) for key, value in custom.items()})
        config.check()
        return config

    def check(self) -> None:
        """Refuse what would fail only later (a traceback mid-training, or a trained model lost at
        export): the pipeline's config checks the same, but a Trainer's custom_config may come from
        elsewhere."""
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; expected one of {VARIANTS}")
        if self.actionness and self.variant in BASELINES:
            raise ValueError(f"variant {self.variant} is one of the paper's baselines, which have no actionness head;"
                             " set actionness false")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; expected one of {LR_SCHEDULES}")
        if self.optimizer not in OPTIMIZERS:  # else Keras' error, after both splits were read
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        for key in POSITIVE:
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")
        if not self.cnn_hidden or min(self.cnn_hidden) < 1:
            raise ValueError(f"cnn_hidden must be one or more layer sizes >= 1, got {list(self.cnn_hidden)}")
        for key in ("dropout", "cnn_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"{key} must lie in [0, 1), got {getattr(self, key)}")
        if not 0 <= self.carry_across_videos <= 1:
            raise ValueError(f"carry_across_videos must lie in [0, 1], got {self.carry_across_videos}")
        if not 0 <= self.seed < 2 ** 32:
            raise ValueError(f"seed must lie in [0, 2**32 - 1], got {self.seed}")
        if self.lr_schedule == "plateau" and not 0 < self.lr_decay_factor < 1:
            raise ValueError(f"lr_decay_factor must lie in (0, 1), got {self.lr_decay_factor}")
        if self.lr_schedule == "plateau" and not self.lr_decay_patience > 0:  # a cosine schedule never reads it
            raise ValueError(f"lr_decay_patience must be > 0, got {self.lr_decay_patience}")
        try:
            LocalizeConfig(**(self.localize or {}))  # built at export, after the whole training
            if self.features:
                settings_from_features(self.features)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"trainer localize/features settings: {e}") from None


# sizes, counts and rates that must be > 0 (0 or less fails later, or trains nothing)
POSITIVE = ("cells", "projection", "num_layers", "k", "batch", "epochs",
            "early_stopping_patience", "tensorboard_update_freq", "learning_rate")


def _converted(key: str, value: Any, default: Any) -> Any:
    """A custom_config value as its field's type (TFX may hand numbers over as strings); a number
    with a fraction for a count, or a list where one number belongs, is an error naming the key."""
    if value is None:
        if default is not None:
            raise ValueError(f"{key} must be given, not null (default {default!r})")
        return None
    if isinstance(default, bool):
        return _flag(key, value)
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise ValueError(f"{key} must be a list of integers, got {value!r}")
        return tuple(_integer(key, v) for v in value)
    if key in INTEGER_OR_NONE or isinstance(default, int):
        return _integer(key, value)
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {value!r}") from None
    return value if default is None else type(default)(value)


INTEGER_OR_NONE = ("num_classes", "feature_dim")  # counts whose default None means "from the data"


def _integer(key: str, value: Any) -> int:
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not float(number).is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{key} must be an integer, got {value!r}") from None


def _flag(key: str, value: Any) -> bool:
    """A boolean setting, from a bool or its usual spellings; anything else is an error, not False."""
    if isinstance(value, bool):
        return value
    spelled = str(value).strip().lower()
    if spelled in ("1", "true", "yes"):
        return True
    if spelled in ("0", "false", "no"):
        return False
    raise ValueError(f"{key} must be true or false, got {value!r}")


def _artifact_vocabulary(files: List[str]) -> Optional[str]:
    """``labels.json`` at the root of the examples artifact, from its files or patterns
    (``<uri>/Split-<name>/<files>``, TFX's) or its split folders (``<uri>/Split-<name>``)."""
    candidates = {os.path.join(os.path.dirname(f.rstrip("/") if tf.io.gfile.isdir(f) else os.path.dirname(f)),
                               "labels.json") for f in files}
    found = sorted(c for c in candidates if tf.io.gfile.exists(c))
    return found[0] if found else None


def _num_classes(config: TrainerConfig, files: List[str]) -> Tuple[int, Optional[Vocabulary]]:
    vocabulary_path = config.vocabulary or _artifact_vocabulary(files)
    if vocabulary_path:
        vocabulary = Vocabulary.load(vocabulary_path)
        if config.num_classes not in (None, len(vocabulary)):
            raise ValueError(f"num_classes={config.num_classes} but the vocabulary has "
                             f"{len(vocabulary)} labels")
        return len(vocabulary), vocabulary
    return config.num_classes or data.num_classes(files), None


def _siblings(config: TrainerConfig, classes: int, vocabulary: Optional[Vocabulary], train_labels: np.ndarray):
    """With actionness, frames before their video's action or long after it are taught "this
    activity" (``model.frame_loss``), over the labels with training videos (others are warned of);
    without a vocabulary every label counts as one activity."""
    counts = np.bincount(train_labels, minlength=classes)
    untrained = [vocabulary.labels[i] if vocabulary else str(i) for i in np.flatnonzero(counts == 0)]
    if untrained:
        warnings.warn(f"{len(untrained)} label(s) of the vocabulary have no training video, so the model cannot"
                      f" learn them: {', '.join(untrained[:10])}{' ...' if len(untrained) > 10 else ''}")
    if not config.actionness:
        return None
    matrix = vocabulary.activity_matrix() if vocabulary else np.ones([classes, 1], np.float32)
    return model.sibling_targets(matrix, counts > 0)


def _novelty(config: TrainerConfig, train_files: List[str], eval_files: List[str], moments):
    """Sibling-novelty targets of the train and eval videos (against the train videos, standardised
    by their ``moments``) for LAF training with actionness, the product's method; None for every
    other variant. The records stream past, a few videos at a time (``data.PARSE_CALLS``)."""
    if not config.uses_novelty:
        return None
    dim = len(moments[0])
    return novelty.sibling_novelty(
        itertools.chain(novelty.read_frames(train_files, dim), novelty.read_frames(eval_files, dim)),
        novelty.read_frames(train_files, dim), moments, seed=config.seed)


class _StopAfterSteps(keras.callbacks.Callback):
    """Honours TFX TrainArgs.num_steps as a cap on the total number of training steps."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


class _WeightHistograms(keras.callbacks.Callback):
    """Per-epoch weight histograms tagged by full weight path (Keras' own tags collide)."""

    def __init__(self, log_dir: str):
        super().__init__()
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default():
            for weight in self.model.net.weights:
                tf.summary.histogram(weight.path, weight, step=epoch)
        self.writer.flush()


def learning_rate_schedule(config: TrainerConfig, steps_per_epoch: int, train_steps: Optional[int] = None):
    """The optimizer's learning rate: ``plateau``, the paper's (§4.2: decay by a factor, here when
    the selection quantity stops improving), starts constant; ``cosine`` decays it smoothly to 0 over
    ``epochs`` passes, or over ``train_steps`` (TFX's train_args.num_steps) where they stop it sooner. Why cosine: on few eval videos the selection quantity is noisy, so a plateau
    rule decays late or never, and early stopping then restores a lucky epoch of the high rate
    (measured on the demo: test Hit@1 0.75-1.0 over seeds with plateau, 0.875-1.0 with cosine)."""
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate,
                                                      min(config.epochs * steps_per_epoch, train_steps or math.inf))
    return config.learning_rate


def _callbacks(config: TrainerConfig, log_dir: str, train_steps: Optional[int],
               selection_metrics: keras.callbacks.Callback) -> list:
    plateau = ([keras.callbacks.ReduceLROnPlateau(monitor=selection.MONITOR, mode="max",
                                                  factor=config.lr_decay_factor, patience=config.lr_decay_patience)]
               if config.lr_schedule == "plateau" else [])  # a cosine schedule decays by itself
    callbacks = [
        selection_metrics,  # first: the callbacks below read what it logs
        *plateau,
        selection.RestoreBest(config.early_stopping_patience, selection.tolerance(selection_metrics.videos)),
        keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=config.tensorboard_update_freq),
        _WeightHistograms(log_dir),
    ]
    return callbacks + ([_StopAfterSteps(train_steps)] if train_steps else [])


def train(config: TrainerConfig, train_files: List[str], eval_files: List[str], log_dir: str,
          train_steps: Optional[int] = None, eval_steps: Optional[int] = None
          ) -> Tuple[keras.Model, int, Optional[Vocabulary], Dict[str, list]]:
    """Train the configured network; returns (net, feature_dim, vocabulary, history)."""
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same records and seed, same model (issue 13)
    found = data.feature_dim(train_files, config.weighting)  # also with feature_dim set: checks the LAF scores
    dim = config.feature_dim or found
    classes, vocabulary = _num_classes(config, train_files + eval_files)
    label_names = vocabulary.labels if vocabulary else None
    # one pass: the epoch's size, the shuffle's memory, the input standardisation, the seen gate's step
    train_scan = data.check_records(train_files, "train", classes, dim, label_names, measure=True)
    train_frames, train_labels = train_scan.frames, train_scan.labels
    if config.weighting == "oracle" and not data.has_oracle_frames(train_files, dim):  # `laf run` checks only segments
        raise UserError("variant oracle weights the frames inside segments of each video's own label, and no train"
                        " frame is: it would learn nothing (are the segments in seconds, and of the video's label?)")
    eval_count = len(data.check_records(eval_files, "eval", classes, dim, label_names).frames)
    eval_dim = data.feature_dim(eval_files, config.weighting)  # validation reads the eval split's LAF scores too
    if eval_dim != found:  # its first record may be empty: then check_records compared nothing
        raise UserError(f"the eval split's features have {eval_dim} dimensions, the train split's {found}")
    net = model.build(config.architecture, classes, cells=config.cells,
                      projection=config.projection, num_layers=config.num_layers,
                      dropout=config.dropout, cnn_hidden=config.cnn_hidden, actionness=config.actionness,
                      cnn_dropout=config.cnn_dropout)
    net(tf.zeros([1, 1, dim]), mask=tf.ones([1, 1], tf.bool))  # create the weights eagerly
    moments = train_scan.moments
    net.standardize.set_moments(*moments)
    siblings = _siblings(config, classes, vocabulary, train_labels)
    if net.seen_gate is not None:
        net.seen_gate.configure(siblings, train_scan.interval)
    trainer = model.StreamTrainer(net, streams=config.batch, siblings=siblings)
    steps_per_epoch = data.chunks_per_pass(train_files, config.k, config.batch, train_frames)
    optimizer = keras.optimizers.get({"class_name": config.optimizer,
                                      "config": {"learning_rate": learning_rate_schedule(config, steps_per_epoch, train_steps)}})
    trainer.compile(optimizer=optimizer, jit_compile=False)
    batches = dict(dim=dim, k=config.k, streams=config.batch, seed=config.seed, actionness=config.actionness,
                   novelty=_novelty(config, train_files, eval_files, moments))
    # Passes over the data follow each other seamlessly (no chunk lost at a Keras epoch end);
    # an epoch is the number of steps one pass takes with balanced streams.
    train_batches = data.stream_batches(train_files, weighting=config.weighting, shuffle=True,
                                        carry=config.carry_across_videos, frames=train_frames, **batches).repeat()
    with warnings.catch_warnings():
        # Keras learns the validation length from the first pass and warns about it; harmless.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = trainer.fit(
            train_batches,
            steps_per_epoch=steps_per_epoch,
            validation_data=data.stream_batches(eval_files, weighting=config.weighting, **batches),
            validation_steps=eval_steps, epochs=config.epochs, verbose=2,
            callbacks=_callbacks(config, log_dir, train_steps,
                                 selection.EvalVideoMetrics(net, selection.EvalVideos(eval_files, dim, eval_count))))
    return net, dim, vocabulary, history.history


def check_finite(net: keras.Model, config: TrainerConfig) -> None:
    """A net whose weights diverged (NaN or Inf) is not exported: its outputs are NaN for every video, and
    with no baseline and the default floor the Evaluator would still bless it (Hit@1 0 >= 0)."""
    bad = [w.path for w in net.weights if not np.isfinite(w.numpy()).all()]
    if bad:
        raise UserError(f"training diverged: {len(bad)} weight(s) are NaN or Inf (e.g. {bad[0]}); lower"
                        f" trainer.learning_rate (now {config.learning_rate:g}) or check the records")


def tuned(custom: Optional[Mapping[str, Any]], hyperparameters: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``custom_config`` with a Tuner's best hyperparameters over it (``Trainer(hyperparameters=
    tuner.outputs["best_hyperparameters"])``: a ``keras_tuner.HyperParameters`` config, whose values are
    named as ``custom_config`` keys; the tuner's own bookkeeping, Hyperband's ``tuner/epochs`` and the like,
    left out). Why: they were ignored, and the Trainer trained the defaults."""
    values = (hyperparameters or {}).get("values") or {}
    return {**(custom or {}), **{k: v for k, v in values.items() if not k.startswith("tuner/")}}


def run_fn(fn_args) -> None:
    """TFX Trainer ``run_fn``: train, log to ``model_run_dir``, export to ``serving_model_dir``."""
    config = TrainerConfig.from_custom_config(tuned(fn_args.custom_config, fn_args.hyperparameters))
    net, dim, vocabulary, _ = train(config, list(fn_args.train_files), list(fn_args.eval_files),
                                    fn_args.model_run_dir, fn_args.train_steps, fn_args.eval_steps)
    check_finite(net, config)
    settings = settings_from_features(config.features) if config.features else None
    serving.export(net, dim, fn_args.serving_model_dir, LocalizeConfig(**(config.localize or {})),
                   backbone=settings.backbone if settings else None)  # adds localize_frames
    serving_assets.save(fn_args.serving_model_dir, vocabulary, settings)
