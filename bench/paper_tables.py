"""The paper's comparisons (§4.3-4.5) on the demo data: CNN baseline, LSTM w/o LAF, LSTM with
random-30 % weights, LSTM w/ LAF and the oracle (ground-truth weights), over several seeds; plus
the image filter's precision/recall against the demo's recorded truth.

Inputs come from a finished local pipeline run, located through its ML Metadata: the VideoIngest
examples and vocabulary, the DomainTransfer ``scored_examples`` (frames with ``laf_score``) and
rounds, the ImageIngest examples. Every variant trains with ``trainer.run_fn.train`` on the same
scored records (train split; eval split for validation, as the pipeline's Trainer) with the demo
config's ``trainer`` section (``--epochs`` overrides), and is evaluated with ``laf.evaluation`` on
the test split: average-fusion Hit@1/Hit@5, activity Hit@1, mAP@0.1..0.5 with the evaluation
section's sliding window. Ground truth is the records' segments; records ingested without
segments get them from the demo's ActivityNet annotations (said on stdout when it happens).

Prints progress, the Markdown table, and as the LAST line one JSON object:
``{"results": {method: {metric: {"mean", "std"}}}, "image_filter": {"precision", "recall"}, "seeds": [...]}``.
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

from laf.quiet import quiet

quiet()

import numpy as np  # noqa: E402

from laf import evaluation, run_store  # noqa: E402
from schemas.records import VideoRecord  # noqa: E402
from schemas.vocabulary import Vocabulary  # noqa: E402

METHODS = {"cnn": "cnn", "lstm_uniform": "uniform", "lstm_random30": "random30", "lstm_laf": "laf",
           "oracle": "oracle"}  # JSON key -> trainer variant
TITLES = {"cnn": "CNN (single frame)", "lstm_uniform": "LSTM w/o LAF", "lstm_random30": "LSTM random 30 %",
          "lstm_laf": "LSTM w/ LAF", "oracle": "Oracle (GT weights)"}
METRICS = ["hit@1", "hit@5", "activity_hit@1"] + [f"mAP@{evaluation.tiou_key(t)}" for t in evaluation.PAPER_TIOUS]
COMPONENT = "components.{0}.component.{1}"
SPLITS = ("train", "eval", "test")


# --- the pipeline run's artifacts ------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    videos: str           # VideoIngest examples
    vocabulary: str       # LabelVocabulary directory
    scored: str           # DomainTransfer scored_examples
    rounds: str           # DomainTransferRounds directory
    images: str           # ImageIngest examples
    manifest: str
    transfer_props: Dict[str, object]


def _latest_outputs(store, module: str, cls: str) -> Tuple[Dict[str, object], Dict[str, str]]:
    """(execution properties, output uri by channel key) of a component's latest finished execution."""
    props, outputs = run_store.latest_execution(store, COMPONENT.format(module, cls))
    return props, {key: found[0].uri for key, found in outputs.items()}


def locate(pipeline_root: str) -> Run:
    store = run_store.open_store(pipeline_root)
    ingest_props, ingest = _latest_outputs(store, "video_ingest", "VideoIngest")
    transfer_props, transfer = _latest_outputs(store, "domain_transfer", "DomainTransfer")
    _, images = _latest_outputs(store, "image_ingest", "ImageIngest")
    return Run(ingest["examples"], ingest["vocabulary"], transfer["scored_examples"], transfer["rounds"],
               images["examples"], str(ingest_props["manifest"]), transfer_props)


# --- records and ground truth ----------------------------------------------------------------------

def prepare_records(run: Run, vocabulary: Vocabulary, work: str) -> Tuple[Dict[str, List[VideoRecord]], str]:
    """The scored records of every split, with ground truth attached where ingestion left none, written
    to ``work/Split-*``; returns them and a note on where the ground truth came from."""
    from laf import annotations, tfrecords, video_ingest

    records = {s: video_ingest.read_records(run.scored, s) for s in SPLITS}
    note = "ground truth: the records' own segments"
    if not any(r.segments for s in SPLITS for r in records[s]):
        anet = os.path.join(os.path.dirname(run.manifest), "annotations", "activitynet.json")
        gt = annotations.read_ground_truth(anet)
        note = (f"ground truth: the records carry no segments (the run's manifest has none), so they come"
                f" from {anet}")
        for split in SPLITS:
            for r in records[split]:
                r.segments = list(gt.get(r.video_id, []))
                r.segment_label_indices = [vocabulary.index(s.label) for s in r.segments]
    for split in SPLITS:
        tfrecords.write(os.path.join(tfrecords.split_dir(work, split), "data_tfrecord-00000-of-00001.gz"),
                        [r.serialize() for r in records[split]])
    return records, note


# --- training and evaluation -----------------------------------------------------------------------

def trainer_config(base: Dict[str, object], variant: str, seed: int, vocabulary_dir: str,
                   localize: Dict[str, object], epochs: Optional[int]):
    from trainer.run_fn import TrainerConfig

    custom = {**base, "variant": variant, "seed": seed, "vocabulary": vocabulary_dir, "localize": localize}
    if epochs:
        custom["epochs"] = epochs
    return TrainerConfig.from_custom_config(custom)


def probabilities(net, records: Sequence[VideoRecord]) -> List[np.ndarray]:
    """Per-video [T, N] frame probabilities of the whole sequences."""
    from trainer.model import frame_probabilities

    lengths = np.asarray([r.num_frames for r in records], np.int32)
    features = np.zeros((len(records), lengths.max(), records[0].features.shape[1]), np.float32)
    for i, r in enumerate(records):
        features[i, :r.num_frames] = r.features
    p = frame_probabilities(net, features, lengths).numpy()
    return [p[i, :n] for i, n in enumerate(lengths)]


def evaluate(probs: Sequence[np.ndarray], records: Sequence[VideoRecord], vocabulary: Vocabulary,
             localize: evaluation.LocalizeConfig) -> Dict[str, float]:
    labels = np.asarray([r.label_index for r in records])
    fused = np.stack([evaluation.average_fusion(p) for p in probs])
    out = {"hit@1": evaluation.hit_at_k(fused, labels, 1), "hit@5": evaluation.hit_at_k(fused, labels, 5),
           "activity_hit@1": evaluation.activity_hit_at_k(fused, labels, vocabulary.activity_matrix(), 1)}
    detections = [d for p, r in zip(probs, records)
                  for d in evaluation.localize(r.video_id, p, r.timestamps, vocabulary.labels, localize)]
    gt = {r.video_id: list(r.segments) for r in records}
    ap = evaluation.average_precision(gt, detections, evaluation.PAPER_TIOUS)
    out.update({f"mAP@{evaluation.tiou_key(t)}": float(m) for t, m in zip(ap.tious, ap.mAP)})
    return out


# --- image filter ----------------------------------------------------------------------------------

def image_filter(run: Run, vocabulary: Vocabulary) -> Tuple[Dict[str, bool], str]:
    """image source path -> kept, from the rounds artifact's ``image_filter.json`` or, when the run did
    not write it, by running domain transfer again with the run's settings (deterministic by seed)."""
    path = os.path.join(run.rounds, "image_filter.json")
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
    with open(os.path.join(run.rounds, "rounds.json")) as f:
        rounds = json.load(f)
    logged = {e["round"]: e["images_kept"] for e in rounds["rounds"]}.get(rounds.get("chosen_round"))
    return kept, (f"kept images: {run.rounds} has no image_filter.json, so domain transfer was run again with the"
                  f" run's settings (laf.domain_transfer.run): {sum(kept.values())} kept, the run's rounds.json"
                  f" logged {logged} for its chosen round")


def _recomputed_filter(run: Run, vocabulary: Vocabulary) -> Dict[str, bool]:
    from laf import domain_transfer as dt
    from laf import tfrecords
    from schemas.records import ImageRecord

    props = run.transfer_props
    hidden = props["hidden_units"]
    hidden = json.loads(hidden) if isinstance(hidden, str) else hidden
    fields = {f.name for f in dataclasses.fields(dt.TransferConfig)}
    config = dt.TransferConfig(**{k: v for k, v in props.items() if k in fields and k != "hidden_units"},
                               hidden_units=tuple(int(u) for u in hidden))
    n = len(vocabulary)
    frames = dt.FeatureStream.from_video_files(tfrecords.split_dir(run.videos, "train"), n)
    validation = dt.FeatureStream.from_video_files(tfrecords.split_dir(run.videos, "eval"), n, frames.dim)
    image_dir = tfrecords.split_dir(run.images, "train")
    images = dt.FeatureStream.from_image_files(image_dir, n, frames.dim)
    logging.getLogger(dt.__name__).setLevel(logging.ERROR)  # its class-floor notes were logged by the run
    result = dt.run(frames, images, validation, n, config, vocabulary.labels)
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
            raise SystemExit(f"{source} is not in {truth_file}")
        relevant[source] = truth[key]["kind"] == "video_like"
    tp = sum(kept[s] and relevant[s] for s in kept)
    return {"precision": tp / max(sum(kept.values()), 1), "recall": tp / max(sum(relevant.values()), 1)}


def laf_diagnostic(records: Sequence[VideoRecord], num_classes: int) -> str:
    """How well the LAF scores single out the action frames: mean score inside / outside the ground-truth
    segments and the AUC of that separation (0.5 = no better than chance)."""
    inside, scores = [], []
    for r in records:
        t = r.timestamps
        inside.append(np.any([(t >= s.start) & (t < s.end) for s in r.segments] or [np.zeros(len(t), bool)], axis=0))
        scores.append(r.laf_scores)
    inside, scores = np.concatenate(inside), np.concatenate(scores)
    pos, neg = scores[inside], scores[~inside]
    if not len(pos) or not len(neg):
        return "LAF diagnostic: no frames inside (or outside) ground-truth segments"
    auc = (np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))
    return (f"LAF scores of the training frames: mean {pos.mean():.3f} inside ground-truth segments vs"
            f" {neg.mean():.3f} outside (a uniform softmax gives 1/{num_classes} = {1 / num_classes:.3f}),"
            f" AUC {auc:.3f} (0.5 = uninformative)")


def ordering_note(results) -> str:
    """Whether the paper's mAP ordering CNN < LSTM w/o LAF < LSTM w/ LAF < oracle holds (mean over tIoUs)."""
    chain = [m for m in ("cnn", "lstm_uniform", "lstm_laf", "oracle") if m in results]
    mean = {m: float(np.mean([results[m][k]["mean"] for k in METRICS if k.startswith("mAP@")])) for m in chain}
    holds = all(mean[a] < mean[b] for a, b in zip(chain, chain[1:]))
    return ("paper ordering " + " < ".join(chain) + f" in mean mAP@0.1-0.5: {'holds' if holds else 'does NOT hold'} ("
            + ", ".join(f"{m} {mean[m]:.3f}" for m in chain) + ")")


# --- output ----------------------------------------------------------------------------------------

def summarize(per_seed: Dict[str, List[Dict[str, float]]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    return {method: {m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs]))}
                     for m in METRICS} for method, runs in per_seed.items()}


def markdown(results, image: Dict[str, float], seeds: Sequence[int], notes: Sequence[str]) -> str:
    lines = ["| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for method, metrics in results.items():
        cells = [f"{metrics[m]['mean']:.3f} ± {metrics[m]['std']:.3f}" for m in METRICS]
        lines.append(f"| {TITLES[method]} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± std over seeds {list(seeds)}. Image filter: precision {image['precision']:.3f},"
                  f" recall {image['recall']:.3f} (relevant = video-like images)."]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def ensure_run(pipeline_root: Optional[str], demo_output: str) -> str:
    root = pipeline_root or os.path.join(demo_output, "pipeline")
    if not os.path.isfile(os.path.join(root, "metadata.sqlite")):
        if pipeline_root:
            raise SystemExit(f"no metadata.sqlite under {pipeline_root}")
        print(f"no pipeline run under {root}: running `laf demo --output {demo_output}` first", flush=True)
        subprocess.run([sys.executable, "-m", "laf.cli", "demo", "--output", demo_output], check=True)
    return root


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline-root", help="finished local run (default: DEMO_OUTPUT/pipeline)")
    parser.add_argument("--demo-output", default="laf-demo", help="where `laf demo` runs if no run exists")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated trainer seeds")
    parser.add_argument("--epochs", type=int, help="override the demo config's trainer epochs")
    parser.add_argument("--methods", default=",".join(METHODS), help="subset of " + ",".join(METHODS))
    parser.add_argument("--markdown", help="write the Markdown table here")
    parser.add_argument("--work-dir", help="records with GT and training logs (default: DEMO_OUTPUT/paper-tables)")
    args = parser.parse_args(argv)
    args.work_dir = args.work_dir or os.path.join(args.demo_output, "paper-tables")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if len(seeds) < 1 or unknown:
        parser.error(f"need seeds and known methods (unknown: {unknown})")

    from laf.demo import demo_config

    root = ensure_run(args.pipeline_root, args.demo_output)
    cfg = demo_config(args.demo_output)
    run = locate(root)
    vocabulary = Vocabulary.load(run.vocabulary)
    records, gt_note = prepare_records(run, vocabulary, args.work_dir)
    notes = [gt_note, f"trainer: demo config `trainer` section, epochs={args.epochs or cfg.trainer.epochs};"
                      f" {len(records['train'])}/{len(records['eval'])}/{len(records['test'])}"
                      " train/eval/test videos"]
    print("\n".join(notes), flush=True)
    localize = cfg.evaluation.localize()
    from trainer.run_fn import train

    per_seed: Dict[str, List[Dict[str, float]]] = {m: [] for m in methods}
    files = {s: [os.path.join(args.work_dir, f"Split-{s}")] for s in SPLITS}
    for method in methods:
        for seed in seeds:
            start = time.time()
            config = trainer_config(dataclasses.asdict(cfg.trainer), METHODS[method], seed, run.vocabulary,
                                    localize, args.epochs)
            net, _, _, history = train(config, files["train"], files["eval"],
                                       os.path.join(args.work_dir, "logs", f"{method}-{seed}"))
            scores = evaluate(probabilities(net, records["test"]), records["test"], vocabulary,
                              evaluation.LocalizeConfig(**localize))
            per_seed[method].append(scores)
            print(f"{method} seed {seed}: {len(history['loss'])} epochs, {time.time() - start:.0f} s, "
                  + ", ".join(f"{k}={v:.3f}" for k, v in scores.items()), flush=True)
    kept, filter_note = image_filter(run, vocabulary)
    notes.append(filter_note)
    image = filter_scores(kept, os.path.join(os.path.dirname(run.manifest), "images_truth.json"))
    results = summarize(per_seed)
    notes += [ordering_note(results), laf_diagnostic(records["train"], len(vocabulary))]
    table = markdown(results, image, seeds, notes)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    print(json.dumps({"results": results, "image_filter": image, "seeds": seeds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
