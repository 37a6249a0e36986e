"""One config file (YAML or JSON) for every parameter a user tunes, validated before any run.

Errors name the file and the dotted key, e.g.
``config.yaml: domain_transfer.theta1 must be a number in [0, 1], got 'high'``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Hashable
from typing import Any, Dict, List, Optional, Tuple, Union, get_args, get_origin, get_type_hints

import yaml

from laf import files
from laf.errors import UserError, first_line
from laf.evaluate.evaluation import LocalizeConfig, distinct_tiou_keys
from laf.evaluate.thumos14 import PROTOCOLS
from laf.ingest.manifest import DEFAULT_RATIOS, Manifest, check_ratios, read_videos
from laf.ingest.backbones import PUBLIC_WEIGHTS
from laf.ingest.runners import beam_flags, check_dask_timeout, is_runner, names_dask
from laf.transfer.thresholds import check_something_kept
from schemas import MIN_FPS
from trainer.choices import BASELINES, LR_SCHEDULES, OPTIMIZERS, VARIANTS

SETUP_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
# Where the Dockerfile puts this project in the container image (its WORKDIR): a compiled Kubeflow/Vertex
# spec must name the image's setup.py, not the compiling machine's checkout.
IMAGE_WORKDIR = "/pipeline"
IMAGE_SETUP_PY = f"{IMAGE_WORKDIR}/setup.py"


DATA_PATHS = ("videos", "annotations", "video_dir", "taxonomy", "images")  # the data section's paths


@dataclasses.dataclass
class DataConfig:
    videos: str = ""                  # manifest (CSV/TSV/JSONL), or instead:
    annotations: str = ""             # THUMOS14 annotation folder or ActivityNet JSON, with
    video_dir: str = ""               # the folder holding their videos, and
    subset: str = ""                  # which annotated subset to read (THUMOS14 needs one if it holds several)
    taxonomy: str = ""                # JSON {"Activity": ["label", ...]}: label activities ("Activity:" or not)
    images: str = ""                  # <root>/<action>/<files> or a manifest of label,path|url
    split_ratios: Dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_RATIOS))
    max_video_bytes: int = 16 * 2**30     # bigger video files are rejected, not copied or decoded
    max_video_seconds: float = 6 * 3600.0  # longer videos are rejected
    allow_private_addresses: bool = False  # fetch image URLs on loopback/private/link-local hosts (own mirror)

    @property
    def video_source(self) -> str:
        """Where the videos are listed: the manifest or the annotation files."""
        return self.videos or self.annotations

    def read_videos(self) -> Manifest:
        """The videos VideoIngest will read, as rows (checked before any work starts)."""
        return read_videos(self.videos, self.annotations, self.video_dir, self.subset, self.split_ratios)


@dataclasses.dataclass
class FeaturesConfig:
    backbone: str = "mobilenet_v3_small"
    weights: str = "imagenet"         # imagenet | none | path to a weights file
    layer: Optional[str] = None
    input_size: Optional[int] = None
    fps: float = 1.0                  # sampled frames per second


@dataclasses.dataclass
class DomainTransferConfig:
    theta1: float = 0.1               # keep images with CNN_v(I)[a_I] > theta1
    theta2: float = 0.1               # keep frames with CNN_i(V)[a_V] > theta2
    max_rounds: int = 3
    hidden_units: List[int] = dataclasses.field(default_factory=lambda: [256])
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3       # Adam, for the heads and the SVMs
    svm_epochs: int = 3               # one-vs-rest SVMs of the stopping criterion
    min_images_per_class: int = 5     # class floors: filtering never empties a class
    min_frames_per_class: int = 20
    seed: int = 0


@dataclasses.dataclass
class TrainerConfig:
    variant: str = "laf"              # laf | uniform | random30 | oracle | cnn
    actionness: bool = True           # actionness head and fusion; false = the paper's exact scheme
    cells: int = 1024
    projection: int = 512
    num_layers: int = 1
    dropout: float = 0.0              # after the LSTMP layers
    cnn_dropout: float = 0.5          # after the single-frame baseline's hidden layers (variant cnn; AlexNet's)
    k: int = 20                       # truncated BPTT unroll
    batch: int = 12                   # parallel video streams
    optimizer: str = "sgd"            # any keras.optimizers name
    learning_rate: float = 0.0024
    lr_schedule: str = "plateau"      # plateau (the paper's decay) | cosine: smoothly to 0 over the epochs
    lr_decay_factor: float = 0.1      # plateau: on a plateau of eval Hit@1 + weighted frame accuracy (trainer.selection)
    lr_decay_patience: int = 4
    epochs: int = 60                  # at most: early stopping; the best eval epoch is restored if it clearly beat the last
    early_stopping_patience: int = 10
    carry_across_videos: float = 0.5  # share of training videos started from the previous video's state, as a
                                      # live stream never resets (laf localize --stream); 0 = the paper's
    seed: int = 0


@dataclasses.dataclass
class EvaluationConfig:
    hit1_floor: float = 0.0           # bless only at or above this video Hit@1, and not worse than the last blessed
                                      # model (a Kubeflow spec has none: the floor alone)
    window: int = 10                  # sliding-window length in time steps (10 = the paper's; 5 s at 2 fps)
    # window lengths as multiples of `window`, for models with actionness (laf.evaluate.evaluation.window_scores);
    # [1.0] = the paper's single window
    scales: List[float] = dataclasses.field(default_factory=lambda: [0.4, 0.6, 1.0, 1.6])
    # with several scales: runs of the class evidence at or above these shares of its video peak, longer than the
    # longest window, are candidates too (laf.evaluate.evaluation.evidence_runs); [] = windows only
    run_thresholds: List[float] = dataclasses.field(default_factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    stride: int = 1
    nms_overlap: float = 0.0          # paper: NMS removes windows that overlap at all
    top_k_classes: Optional[int] = None  # localize only the video's top-k classes; None = all
    tiou: List[float] = dataclasses.field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])
    # how mAP matches and averages: activitynet (tIoU >= t, all-point interpolated) or thumos14 (the THUMOS14
    # kit's, laf.evaluate.thumos14), for numbers comparable with papers that report it
    protocol: str = "activitynet"


    def localize(self) -> Dict[str, Any]:
        """The fields of ``laf.evaluate.evaluation.LocalizeConfig`` (trainer's ``localize`` signature)."""
        return {"window": self.window, "scales": list(self.scales), "run_thresholds": list(self.run_thresholds),
                "stride": self.stride, "nms_overlap": self.nms_overlap,
                "top_k_classes": self.top_k_classes}


@dataclasses.dataclass
class BeamConfig:
    direct_running_mode: str = "in_memory"   # in_memory | multi_processing
    direct_num_workers: int = 1
    extra_args: List[str] = dataclasses.field(default_factory=list)  # every Beam component, e.g. DataflowRunner
    # VideoIngest and ImageIngest only, after extra_args: e.g. DaskRunner, which runs nothing else (see the README)
    ingest_args: List[str] = dataclasses.field(default_factory=list)

    def checked_args(self) -> List[Tuple[str, List[str]]]:
        """(key, flags) as each component gets them, for checks that name the key at fault: every Beam
        component's ``extra_args``, then the ingestion's, ``ingest_args`` after them."""
        return [("beam.extra_args", self.extra_args)] + ([self.ingestion_args()] if self.ingest_args else [])

    def ingestion_args(self) -> Tuple[str, List[str]]:
        """(key, flags) of VideoIngest and ImageIngest: ``extra_args``, then ``ingest_args``, named by the
        last of the two keys that gives any."""
        return ("beam.ingest_args" if self.ingest_args else "beam.extra_args", self.extra_args + self.ingest_args)

    def pipeline_args(self, setup_file: Optional[str] = None) -> List[str]:
        """DirectRunner settings plus ``extra_args``. Unless those already ship the code (a setup
        file, an extra package or a worker image), ship this project's ``setup.py`` (remote workers
        need the components' and metrics' modules; without any such flag TFX would build an
        ephemeral TFX sdist per Beam step). ``--requirements_file`` names third-party packages
        only, so it keeps the setup file:
        ``setup_file`` where the components will run (the image's, for a compiled spec), else
        this checkout's if it has one."""
        args = [f"--direct_running_mode={self.direct_running_mode}",
                f"--direct_num_workers={self.direct_num_workers}", *self.extra_args]
        dependency_flags = ("--setup_file", "--extra_package",
                            "--sdk_container_image", "--worker_harness_container_image")
        if setup_file is None and os.path.exists(SETUP_PY):
            setup_file = SETUP_PY
        if not any(a.startswith(dependency_flags) for a in args) and setup_file:
            args.append(f"--setup_file={setup_file}")
        return args


MAX_SEED = 2 ** 32 - 1
MAX_INT = 2 ** 63 - 1
MAX_PIPELINE_NAME = 63  # TFX refuses longer names


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "laf"
    pipeline_root: str = "laf-output/pipeline"   # artifacts + SQLite MLMD (local runs)
    serving_dir: str = "laf-output/serving"      # pushed models, <serving_dir>/<version>/
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    features: FeaturesConfig = dataclasses.field(default_factory=FeaturesConfig)
    domain_transfer: DomainTransferConfig = dataclasses.field(default_factory=DomainTransferConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    beam: BeamConfig = dataclasses.field(default_factory=BeamConfig)

    @property
    def metadata_path(self) -> str:
        from laf.run_store import metadata_path

        return metadata_path(self.pipeline_root)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin is Union and type(None) in get_args(hint):
        inner = [a for a in get_args(hint) if a is not type(None)][0]
        return None if value is None else _check_type(value, inner, where)
    if origin in (list, List):
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        return [_check_type(v, get_args(hint)[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return {str(k): _check_type(v, get_args(hint)[1], f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer of 309+ digits
            number = math.inf
        if not math.isfinite(number):  # .nan passes every `x <= 0` check below, and fails deep in a component
            raise UserError(f"{where} must be a finite number, got {_short(value)}")
        return number
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT:  # fails deep in NumPy or TF, if ever
            raise UserError(f"{where} must be an integer of 64 bits, got {_short(value)}")
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    hint_name = getattr(hint, "__name__", hint)
    if hint in (float, int) and isinstance(value, str) and _number(value):
        spelled = _yaml_float(value)
        yaml_hint = (f", and YAML 1.1 reads exponent notation only with a dot and a signed exponent: {spelled}"
                     if hint is float and "e" in value.lower() and spelled != value.strip()
                     and isinstance(yaml.safe_load(spelled), float) else "")
        raise UserError(f"{where} must be {hint_name}, got the text {value!r}: a number is written without"
                        f" quotes{yaml_hint}")
    raise UserError(f"{where} must be {hint_name}, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _yaml_float(text: str) -> str:
    """``1e-3`` -> ``1.0e-3``: the spelling PyYAML's YAML 1.1 float pattern reads as a number."""
    mantissa, _, exponent = text.strip().lower().partition("e")
    mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
    return f"{mantissa}e{exponent if exponent[:1] in '+-' else '+' + exponent}" if exponent else mantissa


def _build(cls, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise UserError(f"{where or 'config'} must be a mapping, got {raw!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known, key=str)  # YAML keys need not be text: `on:` is True, `1:` is 1
    if unknown:
        raise UserError(f"{where + '.' if where else ''}{unknown[0]!s} is not a known setting "
                        f"(known: {', '.join(sorted(known))})")
    kwargs = {k: _check_type(v, hints[k], f"{where + '.' if where else ''}{k}") for k, v in raw.items()}
    return cls(**kwargs)


def _in_range(where: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise UserError(f"{where} must be a number in [{lo:g}, {hi:g}], got {value!r}")


def _non_negative(where: str, value: float, note: str = "") -> None:
    if value < 0:
        raise UserError(f"{where} must be >= 0{note}, got {value!r}")


def _positive(where: str, value: float) -> None:
    if value <= 0:
        raise UserError(f"{where} must be > 0, got {value!r}")


def validate(cfg: PipelineConfig, check_paths: bool = True) -> PipelineConfig:
    """Semantic checks beyond types; raises UserError naming the key.

    ``check_paths=False`` skips the local-existence check of data paths (compiling for a
    cluster whose data is not on this machine)."""
    from laf.ingest.backbones import BACKBONES, min_input_size

    dt, tr, ev = cfg.domain_transfer, cfg.trainer, cfg.evaluation
    _in_range("domain_transfer.theta1", dt.theta1, 0, 1)
    _in_range("domain_transfer.theta2", dt.theta2, 0, 1)
    for key, value in [("domain_transfer.max_rounds", dt.max_rounds), ("domain_transfer.epochs", dt.epochs),
                       ("domain_transfer.batch_size", dt.batch_size),
                       ("domain_transfer.learning_rate", dt.learning_rate), ("domain_transfer.svm_epochs", dt.svm_epochs),
                       ("trainer.cells", tr.cells),
                       ("trainer.projection", tr.projection), ("trainer.num_layers", tr.num_layers), ("trainer.k", tr.k),
                       ("trainer.batch", tr.batch), ("trainer.learning_rate", tr.learning_rate),
                       ("trainer.epochs", tr.epochs),
                       ("trainer.early_stopping_patience", tr.early_stopping_patience), ("features.fps", cfg.features.fps),
                       ("evaluation.window", ev.window), ("evaluation.stride", ev.stride),
                       ("data.max_video_bytes", cfg.data.max_video_bytes),
                       ("data.max_video_seconds", cfg.data.max_video_seconds)]:
        _positive(key, value)
    if cfg.features.fps < MIN_FPS:  # refused here, not by ExampleValidator after the whole ingestion
        raise UserError(f"features.fps must be >= {MIN_FPS:g} (a frame per {1 / MIN_FPS:g} s),"
                        f" got {cfg.features.fps!r}")
    for key, seed in [("domain_transfer.seed", dt.seed), ("trainer.seed", tr.seed)]:
        if not 0 <= seed <= MAX_SEED:  # NumPy's range, which Keras seeds; refused late, after ingestion
            raise UserError(f"{key} must be an integer in [0, 2**32 - 1], got {seed!r}")
    _non_negative("beam.direct_num_workers", cfg.beam.direct_num_workers, " (0: one per core)")
    if not 1 <= len(cfg.pipeline_name) <= MAX_PIPELINE_NAME:
        raise UserError(f"pipeline_name must have 1-{MAX_PIPELINE_NAME} characters (TFX's limit), got"
                        f" {len(cfg.pipeline_name)}")
    for key in ("pipeline_root", "serving_dir"):
        if not getattr(cfg, key).strip():
            raise UserError(f"{key} must not be empty")
    if not cfg.features.weights.strip():
        raise UserError("features.weights must be imagenet, none or a weights file, got ''")
    _in_range("trainer.dropout", tr.dropout, 0, 0.99)
    _in_range("trainer.cnn_dropout", tr.cnn_dropout, 0, 0.99)
    _in_range("trainer.carry_across_videos", tr.carry_across_videos, 0, 1)
    if tr.lr_schedule == "plateau" and not 0 < tr.lr_decay_factor < 1:  # 1 never decays (Keras refuses it), 0 freezes
        raise UserError(f"trainer.lr_decay_factor must be a number in (0, 1), got {tr.lr_decay_factor!r}")
    if tr.lr_schedule == "plateau":  # unused by a schedule that decays by itself (warned, not refused)
        _positive("trainer.lr_decay_patience", tr.lr_decay_patience)
    _in_range("evaluation.hit1_floor", ev.hit1_floor, 0, 1)
    _in_range("evaluation.nms_overlap", ev.nms_overlap, 0, 1)
    if ev.top_k_classes is not None:
        _positive("evaluation.top_k_classes", ev.top_k_classes)
    if not ev.tiou:
        raise UserError("evaluation.tiou: give at least one tIoU threshold")
    for i, t in enumerate(ev.tiou):  # 0 would count any detection in the right video
        if not 0 < t <= 1:
            raise UserError(f"evaluation.tiou[{i}] must be a number in (0, 1], got {t!r}")
    if not distinct_tiou_keys(ev.tiou):
        raise UserError(f"evaluation.tiou: a threshold is given twice, or two differ only beyond the digits of"
                        f" their metric names: {list(ev.tiou)}")
    if ev.protocol not in PROTOCOLS:
        raise UserError(f"evaluation.protocol must be one of {', '.join(PROTOCOLS)}, got {ev.protocol!r}")
    if not dt.hidden_units:
        raise UserError("domain_transfer.hidden_units: give at least one layer size (Algorithm 1 fine-tunes"
                        " fully-connected layers over the shared features)")
    for i, units in enumerate(dt.hidden_units):
        _positive(f"domain_transfer.hidden_units[{i}]", units)
    for key, value in [("domain_transfer.min_images_per_class", dt.min_images_per_class),
                       ("domain_transfer.min_frames_per_class", dt.min_frames_per_class)]:
        _non_negative(key, value)
    check_something_kept(dt.theta1, dt.theta2, dt.min_images_per_class, dt.min_frames_per_class, "domain_transfer.")
    smallest = min_input_size(cfg.features.backbone)
    if cfg.features.input_size is not None and cfg.features.input_size < smallest:
        raise UserError(f"features.input_size must be >= {smallest} pixels for {cfg.features.backbone},"
                        f" got {cfg.features.input_size!r}")
    if tr.optimizer not in OPTIMIZERS:
        raise UserError(f"trainer.optimizer must be one of {', '.join(OPTIMIZERS)}, got {tr.optimizer!r}")
    if not ev.scales:
        raise UserError("evaluation.scales: give at least one window length (1.0 = evaluation.window)")
    for i, x in enumerate(ev.scales):
        _positive(f"evaluation.scales[{i}]", x)
    for i, x in enumerate(ev.run_thresholds):
        _positive(f"evaluation.run_thresholds[{i}]", x)
        _in_range(f"evaluation.run_thresholds[{i}]", x, 0, 1)
    if tr.variant not in VARIANTS:
        raise UserError(f"trainer.variant must be one of {', '.join(VARIANTS)}, got {tr.variant!r}")
    if tr.actionness and tr.variant in BASELINES:  # its targets would be the baseline's own weights
        raise UserError(f"trainer.variant {tr.variant} is one of the paper's baselines, which have no actionness head"
                        " (its targets would be that variant's weights: 1 everywhere, or random coin flips);"
                        " set trainer.actionness: false")
    if tr.lr_schedule not in LR_SCHEDULES:
        raise UserError(f"trainer.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {tr.lr_schedule!r}")
    if cfg.features.backbone not in BACKBONES:
        raise UserError(f"features.backbone must be one of {', '.join(sorted(BACKBONES))}, "
                        f"got {cfg.features.backbone!r}")
    if cfg.beam.direct_running_mode not in ("in_memory", "multi_processing", "multi_threading"):
        raise UserError("beam.direct_running_mode must be in_memory, multi_processing or multi_threading")
    _check_beam_args(cfg.beam)
    check_ratios(cfg.data.split_ratios, "data.split_ratios")
    data = cfg.data
    if data.videos and (data.annotations or data.video_dir or data.subset):
        raise UserError("data.videos (a manifest) and data.annotations/video_dir/subset exclude each other")
    for key in ("video_dir", "subset"):
        if getattr(data, key) and not data.annotations:
            raise UserError(f"data.{key} goes with data.annotations (annotation files instead of a manifest)")
    if data.annotations and not data.video_dir:
        raise UserError("data.annotations needs data.video_dir, the folder holding the annotated videos")
    if not data.videos and not data.annotations:
        raise UserError("data.videos is required (a manifest), or data.annotations with data.video_dir")
    if not data.images:
        raise UserError("data.images is required")
    for key in DATA_PATHS:
        path = getattr(data, key)
        if path and check_paths and not files.is_remote(path) and not os.path.exists(files.local(path)):
            raise UserError(f"data.{key}: {path} does not exist")
    _check_weights_file(cfg.features.weights, check_paths)
    return cfg


def _check_weights_file(weights: str, check_paths: bool) -> None:
    """A weights file that is not there, said now, not after TF and TFX have loaded (~30-60 s);
    ``ImageNet`` was read as a file next to the config, so a keyword's other case is named, also
    where paths are not checked (``laf compile``: the cluster would find no such file)."""
    if weights in PUBLIC_WEIGHTS or files.is_remote(weights) or os.path.exists(files.local(weights)):
        return
    keyword = [k for k in PUBLIC_WEIGHTS if k and os.path.basename(weights).lower() == k]
    if keyword:
        raise UserError(f"features.weights: {weights} does not exist (the keyword is {keyword[0]!r}, in lower case)")
    if check_paths:
        raise UserError(f"features.weights: {weights} does not exist")


def _resolve_paths(cfg: PipelineConfig, base: str) -> None:
    """Relative paths (given or default) are relative to the config file, as users expect; ``~`` and
    ``$VAR`` are expanded first, as a shell would (joined as they were, a run made a folder named ``~``),
    and a variable that is not set is refused rather than kept as a folder name."""
    def fix(key: str, p: str) -> str:
        for found in re.finditer(r"\$(\w+|\{([^}]*)\})", p, re.ASCII):  # as os.path.expandvars reads names
            if (found.group(2) if found.group(2) is not None else found.group(1)) not in os.environ:
                raise UserError(f"{key}: {p} names the environment variable {found.group(0)}, which is not set")
        expanded = os.path.expandvars(p)
        if not expanded.strip() or "://" in expanded:  # a blank one is refused by validate
            return expanded
        expanded = os.path.expanduser(expanded)
        return expanded if os.path.isabs(expanded) else os.path.normpath(os.path.join(base, expanded))

    cfg.pipeline_root, cfg.serving_dir = fix("pipeline_root", cfg.pipeline_root), fix("serving_dir", cfg.serving_dir)
    for key in DATA_PATHS:
        setattr(cfg.data, key, fix(f"data.{key}", getattr(cfg.data, key)))
    if cfg.features.weights not in PUBLIC_WEIGHTS:
        cfg.features.weights = fix("features.weights", cfg.features.weights)


def _check_beam_args(beam: BeamConfig) -> None:
    """Each component's Beam flags (:meth:`BeamConfig.checked_args`), their mistakes named by the key at
    fault, before the run."""
    for key, args in beam.checked_args():
        try:
            if key == "beam.extra_args" and names_dask(args):
                raise UserError("DaskRunner runs only the ingestion components (TFX's StatisticsGen, ExampleValidator"
                                " and Evaluator need Beam features it lacks); put its flags in beam.ingest_args")
            check_dask_timeout(args)
        except UserError as e:
            raise UserError(f"{key}: {e}") from None
    flags = beam_flags(beam.extra_args)  # not ingest_args: they set the ingestion's alone, as they are for
    for name in ("direct_running_mode", "direct_num_workers"):  # the flag, after the key's, won unsaid
        value, given = getattr(beam, name), getattr(flags, name)
        if given is not None and value != getattr(_DEFAULTS["beam"], name) and not _same_flag(value, given):
            raise UserError(f"beam.{name} is {value}, but beam.extra_args gives --{name}={given}, which Beam reads"
                            " after it for every component: keep one of the two")


def _same_flag(value: Union[int, str], given: str) -> bool:
    """Whether a flag's text means a config key's value, as Beam reads it (``04`` is 4)."""
    if isinstance(value, int):
        try:
            return int(given) == value
        except ValueError:
            return False
    return given == value


def _warn_unused(cfg: PipelineConfig, source: str) -> None:
    """A setting changed from its default that the chosen options never read is said, not silently
    ignored (the user meant something by it; ``dump`` writes the defaults, which pass quietly).
    A warning, not an error: the run is still what the config asks for."""
    for section, key, why in _unused(cfg):
        if getattr(getattr(cfg, section), key) != getattr(_DEFAULTS[section], key):
            logging.warning("%s: %s.%s is unused: %s", source, section, key, why)


_DEFAULTS = {"trainer": TrainerConfig(), "evaluation": EvaluationConfig(), "beam": BeamConfig()}


def _direct_workers_read(beam: BeamConfig) -> bool:
    """Whether some component's Beam flags (``extra_args``; the ingestion's, ``ingest_args`` after them)
    ask for several DirectRunner workers, or another runner (which says for itself what it reads);
    ``--x=v`` and ``--x v`` alike, the last one given winning, as Beam reads them."""
    for _, args in beam.checked_args():
        flags = beam_flags(args)
        direct = flags.runner is None or is_runner(flags.runner, "Direct")
        if not direct or (flags.direct_running_mode or beam.direct_running_mode) != "in_memory":
            return True
    return False


def _unused(cfg: PipelineConfig) -> List[Tuple[str, str, str]]:
    """(section, key, why) of each setting the chosen options never read."""
    tr, ev = cfg.trainer, cfg.evaluation
    found = []
    if not _direct_workers_read(cfg.beam):  # Beam runs one worker in_memory and only logs it
        found.append(("beam", "direct_num_workers", "the in_memory mode runs one worker; set direct_running_mode:"
                      " multi_processing or multi_threading for more"))
    if tr.lr_schedule != "plateau":
        found += [("trainer", key, f"it applies to lr_schedule: plateau only (a {tr.lr_schedule} schedule decays"
                   " by itself)") for key in ("lr_decay_factor", "lr_decay_patience")]
    if tr.variant == "cnn":
        found += [("trainer", key, "variant cnn is the single-frame baseline, without LSTMP layers")
                  for key in ("cells", "projection", "num_layers", "dropout")]
        found.append(("trainer", "carry_across_videos", "variant cnn keeps no state to carry"))
    else:
        found.append(("trainer", "cnn_dropout", "it applies to variant cnn only (the single-frame baseline)"))
    if not tr.actionness:  # laf.evaluate.evaluation.LocalizeConfig.for_evidence
        found += [("evaluation", key, "a model without actionness is localized with the paper's single window"
                   " length") for key in ("scales", "run_thresholds")]
    elif len(LocalizeConfig(**ev.localize()).widths()) == 1:
        found.append(("evaluation", "run_thresholds", "runs of the evidence are scored beside windows of several"
                      " lengths only (evaluation.scales)"))
    return found


def from_dict(raw: Dict[str, Any], source: str = "config", base_dir: str = ".",
              check_paths: bool = True) -> PipelineConfig:
    try:
        cfg = _build(PipelineConfig, raw, "")
        _resolve_paths(cfg, os.path.abspath(base_dir))
        validate(cfg, check_paths)
        _warn_unused(cfg, source)
        return cfg
    except UserError as e:
        raise UserError(f"{source}: {e}") from None


def _read_text(path: str) -> str:
    """The file's UTF-8 text; a missing file, a folder or other bytes are one-line UserErrors."""
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder, not a config file")
    if not os.path.exists(path):
        raise UserError(f"config file not found: {path}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read the config file ({e.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of repeated keys, so a second ``trainer:`` section would silently drop
    the first one's settings; the YAML spec calls repeated keys an error, and so do we."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: overriding merged keys is allowed
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # a list as a key: PyYAML's own error follows
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key!s} appears twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        _refuse_base_60_and_octal(self.construct_scalar(node), node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        _refuse_base_60_and_octal(self.construct_scalar(node), node)
        return super().construct_yaml_float(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:float", _UniqueKeyLoader.construct_yaml_float)


def _refuse_base_60_and_octal(text: str, node) -> None:
    """YAML 1.1 (PyYAML) reads ``0123`` as octal 83 and ``1:30`` as base 60 (90); YAML 1.2 and JSON
    do not. Refused, so ``seed: 0123`` is not silently seed 83."""
    if ":" in text or re.fullmatch(r"[-+]?0[0-7_]+", text):
        meaning = "a number in base 60" if ":" in text else "an octal number"
        raise yaml.constructor.ConstructorError(
            None, None, f"{text} is {meaning} in YAML 1.1: write it without a leading 0 or ':', or quote it",
            node.start_mark)


def _parse(path: str, text: str) -> Any:
    """JSON or YAML; a syntax error names ``path:line`` (not PyYAML's ``<unicode string>``)."""
    try:
        if path.lower().endswith(".json"):
            return files.json_loads(text, path)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits (Python's conversion limit)
        raise UserError(f"{path}: {first_line(str(e))}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        what = " ".join(str(p) for p in (getattr(e, "context", None), getattr(e, "problem", None)) if p)
        what = what or str(e).splitlines()[0]
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise UserError(f"{where}: not valid YAML: {what}{column}") from None


def load(path: str, check_paths: bool = True) -> PipelineConfig:
    raw = _parse(path, _read_text(path))
    return from_dict({} if raw is None else raw, source=path, base_dir=os.path.dirname(os.path.abspath(path)),
                     check_paths=check_paths)


def dump(cfg: PipelineConfig, path: str) -> str:
    with open(path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
    return path
