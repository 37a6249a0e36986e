"""What the pushed model of a finished run learned, against the ground truth (any finished local run).

    bench/learning_diagnostics.py --pipeline-root DIR [--gate-memory off]

Ground-truth segments are used here only, never for training. Prints one line per number, then as
the LAST line one JSON object:

- ``probe_action_acc``: the linear-probe bound (softmax regression on the train split's action
  frames, scored on the test split's action frames);
- ``model_action_acc``: the pushed model's per-frame accuracy on the test action frames, and
  ``model_vs_probe`` = their ratio;
- ``laf_auc``: LAF scores of the training frames, action vs context frames; ``novelty_auc`` the same
  for their sibling novelty (``trainer.novelty``);
- ``laf_weight_share_action``: share of the LAF loss weight (the class head's frame weights) on
  ground-truth action frames; ``actionness_target_share_action`` the same for the actionness
  targets (``trainer.data.actionness_targets``: LAF and sibling novelty, ``trainer.novelty``);
- ``actionness_auc``: the model's actionness on test frames, action vs context (null without it);
- ``"hit@1"``: ``{"average": x, "actionness": y}``, video Hit@1 under each fusion the product offers;
- ``context_class_collapse``: the largest share of an activity's test videos whose context frames
  prefer the same class (1.0 = one fixed sibling); ``context_own_label``: ``{"before": x, "after": y}``,
  the share of test videos whose frames before (after) their action prefer their own label, which
  says which part of the context makes it collapse;
- ``model``: the Trainer's model artifact, relative to the pipeline root (the folder served from is
  printed above: a pushed copy's is named by the push's time, which would make the JSON differ run to run).

``--gate-memory off`` serves the same model with its seen gate's memory off (``trainer.seen_gate``:
the ``seen_memory`` variable set to 0 after loading), so the memory's effect is measured on the same
weights; the JSON then has ``"gate_memory": "off"``.

Only videos with annotated segments count where action frames are told from context, and the
collapse only over activities whose test videos show two labels or more. A number the run's ground
truth cannot give is null: the probe and ``model_action_acc`` (and ``model_vs_probe``) with a note
saying why, the AUCs, weight shares and collapse when no video or activity qualifies,
``actionness_target_share_action`` for a run of another variant than the product's (LAF +
actionness), and ``hit@1``'s ``actionness`` for a model without the head.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.quiet import quiet  # noqa: E402

quiet()

import numpy as np  # noqa: E402

from laf.errors import UserError  # noqa: E402
from laf.evaluate import batches, diagnostics, run_records  # noqa: E402
from laf.report import strict_json  # noqa: E402
from schemas.records import VideoRecord  # noqa: E402
from schemas.vocabulary import Vocabulary  # noqa: E402


def model_outputs(model_dir: str, records: Sequence[VideoRecord], gate_memory: bool = True
                  ) -> List[Dict[str, np.ndarray]]:
    """Per-video outputs of the SavedModel's ``frame_features`` signature (whole sequences); with
    ``gate_memory`` False, its seen gate served without the memory."""
    import tensorflow as tf

    from laf.serve.upgrade import short_name
    from trainer.seen_gate import MEMORY_WEIGHT

    model = tf.saved_model.load(model_dir)
    if not gate_memory:
        memory = [v for v in model.variables if short_name(v) == MEMORY_WEIGHT]
        if not memory:
            raise UserError(f"{model_dir} has no seen gate memory to turn off")
        memory[0].assign(0.0)
    signature = model.signatures["frame_features"]

    def run(features: np.ndarray, lengths: np.ndarray) -> Dict[str, np.ndarray]:
        found = signature(frame_features=tf.constant(features), lengths=tf.constant(lengths))
        return {k: v.numpy() for k, v in found.items()}

    return batches.per_video(run, [r.features for r in records])


def novelty_auc(records: Sequence[VideoRecord], novelty: Dict[str, np.ndarray]) -> Optional[float]:
    """Sibling novelty (``trainer.novelty``) of the training frames, action vs context frames."""
    known = [r for r in records if r.video_id in novelty]
    if not known:
        return None
    return diagnostics.action_vs_context_auc(known, [novelty[r.video_id] for r in known])


def actionness_targets(records: Sequence[VideoRecord], novelty: Dict[str, np.ndarray]) -> List[np.ndarray]:
    """The product's actionness targets of the training videos: LAF and sibling novelty."""
    import tensorflow as tf

    from schemas import names
    from trainer.data import actionness_targets as targets

    return [targets({names.LAF_SCORE: tf.constant(r.laf_scores, tf.float32)}, "laf", None,
                    tf.constant(novelty[r.video_id]) if r.video_id in novelty else None).numpy() for r in records]


def _or_note(measure: Callable[[], float]) -> Optional[float]:
    """The number, or None with a note saying why it cannot be had from this run's ground truth."""
    try:
        return measure()
    except UserError as e:
        print(f"note: {e}", flush=True)
        return None


def diagnose(pipeline_root: str, gate_memory: bool = True) -> dict:
    run = run_records.locate(pipeline_root, need_model=True)
    vocabulary = Vocabulary.load(run.vocabulary)
    records, note = run_records.scored_records(run, vocabulary)
    print(f"{note}\nmodel: {run.model}", flush=True)
    train, test = records["train"], records["test"]
    outs = model_outputs(run.model, test, gate_memory)
    from trainer.novelty import frame_moments, sibling_novelty

    from trainer.run_fn import TrainerConfig

    config = TrainerConfig.from_custom_config(run.trainer_config)  # the run's own ({}: the defaults)
    # the training targets' novelty, computed once, with the run's seed (its reservoir draws)
    novelty = sibling_novelty(train, train, frame_moments(train), seed=config.seed)
    probe = _or_note(lambda: diagnostics.probe_accuracy(train, test))
    model_acc = _or_note(lambda: diagnostics.action_frame_accuracy(outs, test))
    return {
        "probe_action_acc": probe,
        "model_action_acc": model_acc,
        "model_vs_probe": model_acc / probe if probe and model_acc is not None else None,
        "laf_auc": diagnostics.laf_auc(train),
        "novelty_auc": novelty_auc(train, novelty),
        "laf_weight_share_action": diagnostics.weight_share_action([r.laf_scores for r in train], train),
        # the actionness targets the product's method trains on; null for a run of another variant
        "actionness_target_share_action": diagnostics.weight_share_action(actionness_targets(train, novelty), train)
        if config.uses_novelty else None,
        "actionness_auc": diagnostics.actionness_auc(outs, test),
        "hit@1": diagnostics.hit_at_1(outs, test),
        "context_class_collapse": diagnostics.context_class_collapse(outs, test),
        "context_own_label": {phase: share for phase, share in diagnostics.own_label_share_by_phase(outs, test).items()
                              if phase != "action"},
        "test_videos": len(test),
        # the Trainer's artifact under the root: the pushed copy's folder is named by the push's time
        "model": os.path.relpath(run.model_uri, pipeline_root) if run.model_uri else None,
        **({} if gate_memory else {"gate_memory": "off"}),
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    return strict_json.bench_main("learning_diagnostics", lambda: _diagnostics(argv))


def _diagnostics(argv: Optional[Sequence[str]]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline-root", required=True, help="a finished local run")
    parser.add_argument("--gate-memory", choices=("on", "off"), default="on",
                        help="off: serve the model with its seen gate's memory off (same weights)")
    args = parser.parse_args(argv)
    result = diagnose(args.pipeline_root, args.gate_memory == "on")
    for key, value in result.items():
        print(f"{key:32s} {value}")
    print(strict_json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
