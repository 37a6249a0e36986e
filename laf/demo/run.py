"""The demo run: embedded config + generated data, and the summary printed at the end."""
from __future__ import annotations

import logging
import os
import shlex
from typing import Any, Dict, Optional

import yaml

from laf import files
from laf.demo.settings import DemoConfig
from laf.errors import UserError
from laf.report import strict_json
from pipeline import config as config_lib
from pipeline.config import PipelineConfig

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.abspath(config_lib.__file__)), "demo_config.yaml")
SUMMARY_FILE = "summary.json"
DEMO_FOLDER = "laf-demo"  # where `laf demo` and `laf run` / `laf compile` without --config put it
# 144 videos (72 train, 36 eval, 36 test): a test video is ~3 % of Hit@1 and the trainer sees 6
# videos per action, while the whole demo takes ~3 minutes on 2 cores. With 4 per action
# (scale 2) the model leans to one sibling per activity before the action on half of an activity's
# videos (docs/learning.md: "Why the demo went from scale 2 to 3"); with 6 or more it leans far less.
DEMO_SCALE = 3.0


def demo_config(output: str = DEMO_FOLDER, check_paths: bool = False) -> PipelineConfig:
    """The embedded demo config with its relative paths resolved against ``output``."""
    with open(DEMO_CONFIG) as f:
        raw = yaml.safe_load(f)
    return config_lib.from_dict(raw, source=DEMO_CONFIG, base_dir=output, check_paths=check_paths)


def prepare(output: str = DEMO_FOLDER, scale: float = DEMO_SCALE, seed: int = 0, looks: int = 0,
            data_config: Optional[DemoConfig] = None, **shape: float) -> PipelineConfig:
    """Generate the demo media and the calibrated backbone weights if missing; return the config.
    ``shape``: other ``DemoConfig`` shape fields (``laf demo --action-seconds ... --activities ...``);
    ``data_config``: the whole data settings instead (``laf run`` keeps the set that is there)."""
    from laf.demo.dataset import ensure_generated
    from laf.demo.probe import calibrated_backbone
    from laf.ingest.backbones import BackboneConfig
    from pipeline.local_runner import check_globbable, check_output_folder

    check_globbable("--output", output)  # the pipeline root's folder: before the data are generated, not after
    check_output_folder("--output", output)
    data = os.path.join(output, "data")
    wanted = data_config or DemoConfig(seed=seed, looks=looks, **shape).scaled(scale)
    print(f"demo data under {data} (seed {wanted.seed}, {wanted.videos_per_action} videos per action, looks"
          f" {wanted.looks}; generated if missing) ...", flush=True)
    ensure_generated(data, wanted)
    cfg = demo_config(output)
    feats = cfg.features
    backbone = BackboneConfig(name=feats.backbone, weights="none", input_size=feats.input_size)
    written = calibrated_backbone(data, backbone)
    if os.path.abspath(written) != os.path.abspath(feats.weights):
        raise RuntimeError(f"demo config names weights {feats.weights}, but calibration wrote {written}")
    return config_lib.validate(cfg)


def summarize(cfg: PipelineConfig, report: Optional[str] = None,
              metrics: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """Metrics of the latest finished Evaluator's evaluation (``metrics`` when the caller already read
    them), the latest Pusher's model path and where everything is."""
    from laf import run_store

    store = run_store.open_store(cfg.pipeline_root)
    evaluated = run_store.latest_outputs(store, run_store.EVALUATOR)  # a cached rerun's: an earlier run's artifacts
    evaluation, blessing = (run_store.latest(evaluated.get(key, [])) for key in ("evaluation", "blessing"))
    pushed = run_store.latest_push(store)
    if metrics is None and evaluation is not None:
        try:
            metrics = run_store.eval_metrics(evaluation.uri)[0]
        except UserError as e:  # a cached rerun after the Evaluator's folder was deleted: the run itself worked
            logging.warning("no metrics in the summary: %s", e)
    return {
        "metrics": metrics or {},
        "blessed": bool(blessing and blessing.custom_properties["blessed"].int_value),
        "pushed_model": run_store.pushed_destination(pushed) if pushed else None,
        "pipeline_root": files.shown(cfg.pipeline_root),
        "serving_dir": files.shown(cfg.serving_dir),
        "report": report,
        "tensorboard": f"tensorboard --logdir {shlex.quote(files.shown(cfg.pipeline_root))}",
    }


def write_summary(output: str, summary: Dict[str, Any]) -> str:
    path = os.path.join(output, SUMMARY_FILE)
    # a metric with nothing to score (no annotated test video) as null: a bare NaN is no JSON to strict parsers
    files.write_atomic(path, strict_json.dumps(summary, indent=2, sort_keys=True).encode())
    return path


NO_METRICS = "(none: see the warning above; a run without test videos scores none)"


def format_summary(summary: Dict[str, Any]) -> str:
    lines = ["", "metric                      value", "-" * 36]
    lines += [f"{name:<27} {value:.4f}" for name, value in sorted(summary["metrics"].items())] or [NO_METRICS]
    lines += ["", f"blessed:       {summary['blessed']}",
              f"pushed model:  {summary['pushed_model'] or '(not pushed: model not blessed)'}",
              f"pipeline root: {summary['pipeline_root']}",
              f"TensorBoard:   {summary['tensorboard']}"]
    if summary.get("report"):
        lines.append(f"report:        {summary['report']}")
    return "\n".join(lines)
