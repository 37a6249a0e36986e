"""The paper's comparisons (§4.3-4.5) on a finished run: CNN baseline, LSTM w/o LAF, LSTM with
random-30 % weights, LSTM w/ LAF as the paper has it (LAF-weighted softmax, average fusion), the
product's LSTM w/ LAF + actionness, and the oracle (ground-truth weights, + actionness), over
several seeds; plus the image filter's precision/recall when the data has an images truth file.
The oracle is left out, with a note, when no train video has ground-truth segments (its weights
would be 0 everywhere). Records and training logs go to ``--work-dir`` (default: the pipeline
root's path with ``-paper-tables`` appended; ``DEMO_OUTPUT/paper-tables`` for the demo run it uses).

Inputs come from a finished local pipeline run, located through its ML Metadata
(``laf.evaluate.run_records``). Every method trains with ``trainer.run_fn.train`` on the same
scored records (train split; eval split for validation, as the pipeline's Trainer) with the
run's Trainer settings (the demo config's ``trainer`` section when the run has none; ``--epochs``
overrides), and is evaluated with ``laf.evaluate.evaluation`` on the test split: Hit@1/Hit@5 and activity
Hit@1 under the method's fusion (average, or actionness for actionness models), mAP@0.1..0.5 with
the evaluation section's sliding window over the class evidence; false positives on the data's
Ambiguous segments are ignored (THUMOS14 protocol) when it has them. Per-frame behaviour beside
them (``laf.evaluate.diagnostics``): ``context_class_collapse``, the mean p(label) before, on
and after the action (``p_label_before|action|after``), which says why a method localizes or not,
and the share of videos whose frames before / after the action prefer their own label
(``own_label_before|after``), which says which part of the context collapses.

A benchmark that can tell methods apart needs enough test videos that one video is <= 2 % of a score:
without ``--pipeline-root`` it runs (once) ``laf demo --scale 4`` into ``--demo-output``
(192 videos, 48 of them test videos; about 10 minutes on 2 cores) and benchmarks that run.
``--data-seed`` and ``--looks`` make that run on other videos, or other scenes and action
patterns (``laf demo --seed/--looks``), ``--action-seconds`` and ``--video-seconds`` on actions and
videos of other lengths: checks on data the defaults were not tuned on.

Per-frame behaviour as curves: each method's mean p(label) (and actionness) by time step around the
test videos' first action frame, averaged over seeds (``diagnostics.label_probability_profile``); a
PNG with ``--plot``, and in the JSON for ``laf report --baselines``.

Prints progress, the Markdown table, and as the LAST line one JSON object:
``{"results": {method: {metric: {"mean", "std"}}}, "image_filter": {"precision", "recall"} | null,
"seeds": [...], "test_videos": n, "profiles": {method: {"offset", "videos", "p_label", "action_share",
["actionness"]: [...]}}}`` (``diagnostics.mean_profile``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.quiet import quiet  # noqa: E402

quiet()

import numpy as np  # noqa: E402

from laf import files, run_store  # noqa: E402
from laf.commands.demo_data import add_shape_arguments, shape  # noqa: E402
from laf.demo.dataset import generated_config  # noqa: E402
from laf.demo.settings import DemoConfig, config_record  # noqa: E402
from laf.evaluate import evaluation  # noqa: E402
from laf.evaluate import batches, diagnostics, run_records  # noqa: E402
from laf.evaluate.run_records import Run  # noqa: E402
from laf.errors import UserError  # noqa: E402
from laf.report import strict_json  # noqa: E402
from laf.report.page import METHOD_NAMES  # noqa: E402
from schemas import transfer_files  # noqa: E402
from schemas.names import SPLITS  # noqa: E402
from schemas.records import VideoRecord  # noqa: E402
from schemas.vocabulary import Vocabulary  # noqa: E402

# JSON key -> (trainer variant, actionness head)
METHODS = {"cnn": ("cnn", False), "lstm_uniform": ("uniform", False), "lstm_random30": ("random30", False),
           "lstm_laf_paper": ("laf", False), "lstm_laf": ("laf", True), "oracle": ("oracle", True)}
METRICS = ["hit@1", "hit@5", "activity_hit@1"] + [f"mAP@{evaluation.tiou_key(t)}" for t in evaluation.PAPER_TIOUS]
# Per-frame behaviour (diagnostics, from the ground truth): context collapse, p(label) around the action,
# share of videos whose context before / after the action prefers their own label
DIAGNOSTICS = (["context_class_collapse"] + [f"p_label_{phase}" for phase in diagnostics.PHASES]
               + ["own_label_before", "own_label_after"])


# --- training and evaluation -----------------------------------------------------------------------

def write_splits(records: Dict[str, List[VideoRecord]], work: str) -> Dict[str, List[str]]:
    """The records (ground truth attached) as ``work/Split-*`` TFRecords, the trainer's input."""
    from laf import tfrecords

    for split in SPLITS:
        tfrecords.write(os.path.join(tfrecords.split_dir(work, split), "data_tfrecord-00000-of-00001.gz"),
                        [r.serialize() for r in records[split]])
    return {s: [tfrecords.split_dir(work, s)] for s in SPLITS}


def trainer_config(base: Dict[str, object], method: str, seed: int, vocabulary_dir: str,
                   localize: Dict[str, object], epochs: Optional[int]):
    from trainer.run_fn import TrainerConfig

    variant, actionness = METHODS[method]
    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    custom = {**{k: v for k, v in base.items() if k in fields}, "variant": variant, "actionness": actionness,
              "seed": seed, "vocabulary": vocabulary_dir, "localize": localize}
    if epochs:
        custom["epochs"] = epochs
    return TrainerConfig.from_custom_config(custom)


def outputs(net, records: Sequence[VideoRecord]) -> List[Dict[str, np.ndarray]]:
    """Per-video whole-sequence outputs: probabilities [T, N] (and actionness [T])."""
    from trainer.model import traced_outputs

    traced = traced_outputs(net)
    return batches.per_video(lambda features, lengths: {k: v.numpy() for k, v in traced(features, lengths).items()},
                             [r.features for r in records])


def evaluate(outs: Sequence[Dict[str, np.ndarray]], records: Sequence[VideoRecord], vocabulary: Vocabulary,
             localize: evaluation.LocalizeConfig) -> Dict[str, float]:
    labels = np.asarray([r.label_index for r in records])
    fused = np.stack([evaluation.fuse(o["probabilities"], o.get("actionness")) for o in outs])
    out = {"hit@1": evaluation.hit_at_k(fused, labels, 1), "hit@5": evaluation.hit_at_k(fused, labels, 5),
           "activity_hit@1": evaluation.activity_hit_at_k(fused, labels, vocabulary.activity_matrix(), 1)}
    detections = [d for o, r in zip(outs, records)
                  for d in evaluation.localize(r.video_id, o["probabilities"], r.timestamps, vocabulary.labels,
                                               localize, r.duration, actionness=o.get("actionness"))]
    gt, detections = evaluation.annotated_only({r.video_id: r.segments for r in records}, detections)
    ambiguous = {r.video_id: list(r.ambiguous) for r in records if r.ambiguous}
    ap = evaluation.average_precision(gt, detections, evaluation.PAPER_TIOUS, ambiguous=ambiguous or None)
    out.update({f"mAP@{evaluation.tiou_key(t)}": float(m) for t, m in zip(ap.tious, ap.mAP)})
    out["context_class_collapse"] = diagnostics.context_class_collapse(outs, records)
    out.update({f"p_label_{k}": v for k, v in diagnostics.label_probability_by_phase(outs, records).items()})
    own = diagnostics.own_label_share_by_phase(outs, records)
    out.update({"own_label_before": own["before"], "own_label_after": own["after"]})
    return out


# --- image filter ----------------------------------------------------------------------------------

def image_filter(run: Run, vocabulary: Vocabulary) -> Tuple[Dict[str, bool], str]:
    """image source path -> kept, from the rounds artifact's ``image_filter.json`` or, when the run did
    not write it, by running domain transfer again with the run's settings (deterministic by seed)."""
    path = os.path.join(run.rounds, transfer_files.IMAGE_FILTER_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            entries = json.load(f)["images"]
        if all("source" in e for e in entries):
            return {e["source"]: bool(e["kept"]) for e in entries}, f"kept images: {path}"
        from laf import tfrecords
        from schemas.records import ImageRecord

        sources = {ImageRecord.parse(s).image_id: ImageRecord.parse(s).source
                   for s in tfrecords.read(tfrecords.split_dir(run.images, "train"))}
        return {sources[e["image_id"]]: bool(e["kept"]) for e in entries}, f"kept images: {path}"
    kept = _recomputed_filter(run, vocabulary)
    with open(os.path.join(run.rounds, transfer_files.ROUNDS_FILE)) as f:
        rounds = json.load(f)
    logged = {e["round"]: e["images_kept"] for e in rounds["rounds"]}.get(rounds.get("chosen_round"))
    return kept, (f"kept images: {run.rounds} has no image_filter.json, so domain transfer was run again with the"
                  f" run's settings (laf.transfer.domain_transfer.run): {sum(kept.values())} kept, the run's"
                  f" rounds.json logged {logged} for its chosen round")


def _recomputed_filter(run: Run, vocabulary: Vocabulary) -> Dict[str, bool]:
    from laf import tfrecords
    from laf.transfer import domain_transfer as dt, floor
    from laf.transfer.config import from_properties
    from laf.transfer.feature_stream import FeatureStream
    from schemas.records import ImageRecord

    n = len(vocabulary)
    frames = FeatureStream.from_video_files(tfrecords.split_dir(run.videos, "train"), n)
    validation = FeatureStream.from_video_files(tfrecords.split_dir(run.videos, "eval"), n)
    image_dir = tfrecords.split_dir(run.images, "train")
    images = FeatureStream.from_image_files(image_dir, n)
    for module in (dt, floor):  # its round and class-floor notes were logged by the run
        logging.getLogger(module.__name__).setLevel(logging.ERROR)
    result = dt.run(frames, images, validation, n, from_properties(run.transfer_props), vocabulary.labels)
    sources = [ImageRecord.parse(s).source for s in tfrecords.read(image_dir)]  # the stream's row order
    return dict(zip(sources, result.image_mask.tolist()))


def filter_scores(kept: Dict[str, bool], truth_file: str) -> Dict[str, float]:
    """Precision/recall of "kept" against "video_like" (relevant), over the ingested images."""
    with open(truth_file) as f:
        truth = json.load(f)
    relevant = {}
    for source in kept:
        key = "/".join(source.replace(os.sep, "/").split("/")[-2:])  # "<label>/<file>"
        if key not in truth:
            raise UserError(f"{source} is not in {truth_file}")
        relevant[source] = truth[key]["kind"] == "video_like"
    tp = sum(kept[s] and relevant[s] for s in kept)
    return {"precision": tp / max(sum(kept.values()), 1), "recall": tp / max(sum(relevant.values()), 1)}


def laf_diagnostic(records: Sequence[VideoRecord], num_classes: int) -> str:
    """How well the LAF scores single out the action frames: mean score inside / outside the ground-truth
    segments and the AUC of that separation (0.5 = no better than chance)."""
    inside, scores = diagnostics.annotated(records, [r.laf_scores for r in records])
    if inside.all() or not inside.any():
        return "LAF diagnostic: no frames inside (or outside) ground-truth segments"
    return (f"LAF scores of the training frames: mean {scores[inside].mean():.3f} inside ground-truth segments vs"
            f" {scores[~inside].mean():.3f} outside (a uniform softmax gives 1/{num_classes} = {1 / num_classes:.3f}),"
            f" AUC {diagnostics.auc(scores[inside], scores[~inside]):.3f} (0.5 = uninformative)")


ORDERING = (("cnn", "lstm_uniform"), ("lstm_uniform", "lstm_laf"), ("lstm_random30", "lstm_laf"),
            ("lstm_laf", "oracle"))


def ordering_note(results, metric: str = "mAP@0.5") -> str:
    """Whether the paper's ordering holds on the means at ``metric``: CNN < LSTM w/o LAF < LSTM w/ LAF
    <= oracle, and LSTM random-30 % < LSTM w/ LAF (§4.5, Table 5)."""
    pairs = [(a, b) for a, b in ORDERING if a in results and b in results]
    mean = {m: results[m][metric]["mean"] for pair in pairs for m in pair}
    held = [(a, b, mean[a] <= mean[b] if b == "oracle" else mean[a] < mean[b]) for a, b in pairs]
    return (f"paper ordering at {metric} (means): "
            + "; ".join(f"{a} {mean[a]:.3f} {'<=' if b == 'oracle' else '<'} {b} {mean[b]:.3f}: "
                        + ("undefined (no score)" if np.isnan(mean[a]) or np.isnan(mean[b])  # no test segments
                           else "holds" if ok else "does NOT hold") for a, b, ok in held))


# --- output ----------------------------------------------------------------------------------------

def summarize(per_seed: Dict[str, List[Dict[str, float]]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    return {method: {m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs]))}
                     for m in METRICS + DIAGNOSTICS} for method, runs in per_seed.items()}


def _table(results, columns: Sequence[str]) -> List[str]:
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for method, metrics in results.items():
        cells = [f"{metrics[m]['mean']:.3f} ± {metrics[m]['std']:.3f}" for m in columns]
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(cells) + " |")
    return lines


def markdown(results, image: Optional[Dict[str, float]], seeds: Sequence[int], notes: Sequence[str]) -> str:
    lines = _table(results, METRICS) + ["", "Per-frame behaviour on the test split (from the ground truth):", ""]
    lines += _table(results, DIAGNOSTICS) + ["", f"Mean ± std over seeds {list(seeds)} (population std, ddof 0)."]
    if image is not None:
        lines[-1] += (f" Image filter: precision {image['precision']:.3f}, recall {image['recall']:.3f}"
                      " (relevant = video-like images).")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def demo_command(demo_output: str, scale: float, demo: DemoConfig) -> List[str]:
    """The `laf demo` command that makes the benchmark's run of ``demo``'s data."""
    return [sys.executable, "-m", "laf.cli", "demo", "--output", demo_output, "--scale", f"{scale:g}",
            "--seed", str(demo.seed), "--looks", str(demo.looks),
            "--activities", str(demo.activities), "--actions-per-activity", str(demo.actions_per_activity),
            "--image-mix", f"{demo.video_like_rate!r}", f"{demo.off_domain_rate!r}", f"{demo.irrelevant_rate!r}",
            "--action-seconds", f"{demo.min_action:g}", f"{demo.max_action:g}",
            "--video-seconds", f"{demo.min_duration:g}", f"{demo.max_duration:g}",
            "--sibling-scene-shift", f"{demo.sibling_scene_shift:g}"]


def ensure_run(pipeline_root: Optional[str], demo_output: str, scale: float,
               demo: Optional[DemoConfig] = None) -> str:
    """The run to benchmark: ``pipeline_root``, else the demo run of ``demo`` (the data ``scale``
    makes of it) under ``demo_output``, made once. Why the data check: a demo run made with other
    data flags must not pass for the one asked for."""
    root = pipeline_root or os.path.join(demo_output, "pipeline")
    metadata = run_store.metadata_path(root)
    exists = os.path.isfile(metadata)
    if pipeline_root:
        if not exists:
            raise UserError(f"no finished run at {pipeline_root}: {metadata} not found")
        return root
    demo = demo or DemoConfig().scaled(scale)
    wanted = config_record(demo)
    found = generated_config(os.path.join(demo_output, "data"))
    if found is not None:  # a set made before a field existed was made as its default makes it
        found = {**config_record(DemoConfig()), **found}
    if exists and found is not None and found != wanted:
        differ = ", ".join(f"{k} {found.get(k)} (asked {wanted[k]})"
                           for k in sorted(wanted) if found.get(k) != wanted[k])
        raise UserError(f"{demo_output} holds a demo run of other data: {differ}; "
                        "pass another --demo-output or the flags it was made with")
    if not exists:
        command = demo_command(demo_output, scale, demo)
        print(f"no pipeline run under {root}: running `laf {' '.join(command[3:])}` first", flush=True)
        subprocess.run(command, check=True)
    return root


def run_settings(run: Run, demo_output: str):
    """(trainer section, LocalizeConfig fields, whose they are): the run's Trainer's own, else the
    demo config's."""
    if run.trainer_config:
        base = dict(run.trainer_config)
        localize = base.pop("localize", None) or {}
        return base, localize, "the run's settings"
    from laf.demo.run import demo_config

    cfg = demo_config(demo_output)
    return (dataclasses.asdict(cfg.trainer), cfg.evaluation.localize(),
            "the demo's settings (no Trainer of the run finished)")


def image_filter_scores(run: Run, vocabulary: Vocabulary, notes: List[str]) -> Optional[Dict[str, float]]:
    """Precision/recall of the image filter, only when the data has an images truth file."""
    truth = os.path.join(run.data_dir, "images_truth.json")
    if not os.path.isfile(truth):
        notes.append(f"image filter: not scored ({truth} does not exist)")
        return None
    try:
        kept, filter_note = image_filter(run, vocabulary)
        scores = filter_scores(kept, truth)
    except (UserError, OSError, KeyError, ValueError) as e:  # the methods' training is not lost to it
        notes.append(f"image filter: not scored ({type(e).__name__}: {e})")
        return None
    notes.append(filter_note)
    return scores


def main(argv: Optional[Sequence[str]] = None) -> int:
    return strict_json.bench_main("paper_tables", lambda: _tables(argv))


def _tables(argv: Optional[Sequence[str]]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline-root", help="finished local run (default: DEMO_OUTPUT/pipeline)")
    parser.add_argument("--demo-output", default="laf-demo-bench", help="where `laf demo` runs if no run exists")
    parser.add_argument("--scale", type=float, default=4.0, help="demo scale of that run (4: 48 test videos)")
    parser.add_argument("--data-seed", type=int, default=0, help="demo data seed of that run (`laf demo --seed`)")
    parser.add_argument("--looks", type=int, default=0,
                        help="scenes and action patterns of that run (`laf demo --looks`; 0: the shipped ones)")
    add_shape_arguments(parser)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated trainer seeds")
    parser.add_argument("--epochs", type=int, help="override the trainer's epochs")
    parser.add_argument("--methods", default=",".join(METHODS), help="subset of " + ",".join(METHODS))
    parser.add_argument("--markdown", help="write the Markdown table here")
    parser.add_argument("--plot", metavar="PNG", help="write a PNG of each method's p(label) around the action here")
    parser.add_argument("--work-dir",
                        help="records with GT and training logs (default: PIPELINE_ROOT-paper-tables beside it)")
    args = parser.parse_args(argv)
    # beside the run it reads, named after it (two benches on two runs must not share their records)
    args.work_dir = args.work_dir or (os.path.abspath(args.pipeline_root).rstrip(os.sep) + "-paper-tables"
                                      if args.pipeline_root else os.path.join(args.demo_output, "paper-tables"))
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if len(seeds) < 1 or not methods or unknown:
        parser.error(f"need seeds and known methods (unknown: {unknown})")
    if args.plot and not args.plot.lower().endswith(".png"):  # an SVG or PDF would carry the day's date
        parser.error(f"--plot: a .png file, got {args.plot}")
    for flag, path in (("--plot", args.plot), ("--markdown", args.markdown)):  # both written after the training
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            parser.error(f"{flag}: no folder {os.path.dirname(os.path.abspath(path))}")
    demo = None
    if not args.pipeline_root:
        try:
            demo = DemoConfig(seed=args.data_seed, looks=args.looks, **shape(args)).scaled(args.scale)
            demo.validate()
        except UserError as e:
            parser.error(f"demo run settings: {e}")

    root = ensure_run(args.pipeline_root, args.demo_output, args.scale, demo)
    run = run_records.locate(root)
    vocabulary = Vocabulary.load(run.vocabulary)
    records, gt_note = run_records.scored_records(run, vocabulary)
    split_files = write_splits(records, args.work_dir)
    base, localize, whose = run_settings(run, args.demo_output)
    n_ambiguous = sum(len(r.ambiguous) for r in records["test"])
    notes = [gt_note, f"trainer: {whose}, epochs={args.epochs or base.get('epochs')};"
                      f" {len(records['train'])}/{len(records['eval'])}/{len(records['test'])}"
                      " train/eval/test videos",
             f"mAP: false positives on {n_ambiguous} Ambiguous test segments ignored"
             if n_ambiguous else "mAP: no Ambiguous segments in the data"]
    if "oracle" in methods and not any(diagnostics.action_mask(r).any() for r in records["train"]):
        methods.remove("oracle")  # its weights would be 0 on every frame: no upper bound, a model that learnt nothing
        notes.append("oracle: not trained (no train video has ground-truth segments to weight by)")
        if not methods:
            raise UserError("no method left to train: the oracle needs train videos with ground-truth segments")
    print("\n".join(notes), flush=True)
    image = image_filter_scores(run, vocabulary, notes)  # before the training, which its failure would cost
    from trainer.run_fn import train

    per_seed: Dict[str, List[Dict[str, float]]] = {m: [] for m in methods}
    profile_runs: Dict[str, List[Dict[str, np.ndarray]]] = {m: [] for m in methods}
    for method in methods:
        for seed in seeds:
            start = time.time()
            config = trainer_config(base, method, seed, run.vocabulary, localize, args.epochs)
            net, _, _, history = train(config, split_files["train"], split_files["eval"],
                                       os.path.join(args.work_dir, "logs", f"{method}-{seed}"))
            outs = outputs(net, records["test"])
            scores = evaluate(outs, records["test"], vocabulary, evaluation.LocalizeConfig(**localize))
            per_seed[method].append(scores)
            profile_runs[method].append(diagnostics.label_probability_profile(outs, records["test"]))
            print(f"{method} seed {seed}: {len(history['loss'])} epochs, {time.time() - start:.0f} s, "
                  + ", ".join(f"{k}={v:.3f}" for k, v in scores.items()), flush=True)
    results = summarize(per_seed)
    notes += [ordering_note(results), laf_diagnostic(records["train"], len(vocabulary))]
    table = markdown(results, image, seeds, notes)
    print(table)
    if args.markdown:
        files.write_atomic(args.markdown, table.encode("utf-8"))
    profiles = {m: diagnostics.mean_profile(runs) for m, runs in profile_runs.items() if runs}
    if args.plot:
        from laf.report.page import profile_figure

        profile_figure(profiles).savefig(args.plot, dpi=100, bbox_inches="tight")
        print(f"per-frame profiles: {args.plot}", flush=True)
    print(strict_json.dumps({"results": results, "image_filter": image, "seeds": seeds,
                      "test_videos": len(records["test"]), "profiles": profiles}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
