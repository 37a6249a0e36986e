"""Online localization of a live stream on a finished run's test videos (issue 15).

The run's test videos go into one H.264 MPEG-TS (ffmpeg's concat demuxer, streams copied), which
ffmpeg pushes over loopback TCP into ``laf localize --stream tcp://127.0.0.1:PORT?listen=1``:

- ``p95_emit_delay_s``: with ``-re`` (played in real time), the wall-clock time from the end of
  each ground-truth action, as it plays (ffmpeg's start + the action's end in the stream), to the
  arrival of the first emitted event of its label with tIoU >= 0.3; actions never matched are
  counted in ``unmatched_actions``. ``--latency-videos N`` plays only the first N videos.
- ``realtime_factor``: stream seconds per wall second with ``-re`` off (ffmpeg's start to the
  command's end, so connecting and the last batch count; model loading does not).
- ``rss_growth_mb_per_hour``: the same full-speed run, the test videos looped to at least
  ``--rss-minutes`` of stream time; the slope of the command's resident memory (its process tree)
  against stream time after the first quarter (warm-up), in MB per hour of stream.
- ``online_mAP`` / ``offline_mAP`` (tIoU 0.1..0.5 and their mean) on the test split: the online
  detector (``laf.serve.online.segments``) vs the model's ``localize`` signature (sliding windows and
  evidence runs + NMS), on the same per-frame outputs.
- ``carried_state_offline``: actions matched (tIoU >= 0.3, same label) by the online detector run
  offline over the test videos as one sequence, as the stream runs them (the state carried across
  the cuts between videos), vs each video from a zero state. The real-time run's events are kept in
  ``<work>/events.jsonl`` with ``--work`` (the default work folder is a temporary one, removed).

A model exported before ``localize_step`` existed is upgraded into the work folder first
(``laf.serve.upgrade``). Last stdout line: ``{"p95_emit_delay_s", "realtime_factor",
"rss_growth_mb_per_hour", "online_mAP", "offline_mAP", ...}``; goals p95 <= 2.0 s, realtime >= 20
(2 fps sampling, 2 cores), RSS growth <= 10 MB/h.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.report.strict_json import bench_main, dumps  # noqa: E402
from laf.quiet import quiet  # noqa: E402

quiet()
from laf.evaluate.evaluation import annotated_only, average_precision, tiou  # noqa: E402
from laf.evaluate import run_records  # noqa: E402
from laf.serve import localize, online  # noqa: E402
from schemas.segment import Detection  # noqa: E402
from schemas.vocabulary import Vocabulary  # noqa: E402

TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5)
LAF = [sys.executable, "-m", "laf.cli"]  # this interpreter's laf, wherever its console script is


def log(message: str) -> None:
    print(f"[stream_latency] {message}", file=sys.stderr, flush=True)


# --- model and mAP -----------------------------------------------------------------------------

def step_model(model_dir: str, work: str) -> Tuple[str, Any]:
    """(directory, loaded SavedModel): the run's model, or its upgrade with ``localize_step`` when
    it lacks that signature."""
    import tensorflow as tf

    from laf.serve.upgrade import add_step_signature

    model = tf.saved_model.load(model_dir)
    if "localize_step" in model.signatures:
        return model_dir, model
    log(f"{model_dir} has no localize_step: upgrading it into {work}/model")
    upgraded = add_step_signature(model_dir, os.path.join(work, "model"))
    return upgraded, tf.saved_model.load(upgraded)


def maps(model, records, labels: List[str], config: online.OnlineConfig) -> Dict[str, dict]:
    """Online vs offline detections on the same per-frame outputs, scored against the records' truth."""
    import tensorflow as tf

    found = {k: v.numpy() for k, v in model.signatures["localize"](
        examples=tf.constant([r.serialize() for r in records])).items()}
    offline, streamed = [], []
    for i, r in enumerate(records):
        n, count = int(found["num_frames"][i]), int(found["count"][i])
        offline += [Detection(r.video_id, float(found["start"][i, j]), float(found["end"][i, j]),
                              labels[int(found["label"][i, j])], float(found["score"][i, j])) for j in range(count)]
        events = online.segments(found["timestamps"][i, :n], found["probabilities"][i, :n],
                                 found["actionness"][i, :n] if "actionness" in found else None, config=config)
        streamed += [Detection(r.video_id, e.start, e.end, labels[e.label], e.score) for e in events]
    ambiguous = {r.video_id: r.ambiguous for r in records if r.ambiguous}
    gt = {r.video_id: r.segments for r in records}
    out = {}
    for name, every in (("online", streamed), ("offline", offline)):
        result = average_precision(*annotated_only(gt, every), TIOUS, ambiguous)
        out[name] = {**{f"{t:g}": round(float(m), 4) for t, m in zip(TIOUS, result.mAP)},
                     "average": round(result.average_mAP, 4), "detections": len(every)}
    return out


# --- the stream --------------------------------------------------------------------------------

def _quoted(path: str) -> str:
    """``path`` in quotes for FFmpeg's concat listing (a quote in a name closes, escapes and reopens)."""
    return "'" + path.replace("'", "'\\''") + "'"


def concat_ts(videos: List[str], path: str, loops: int = 1) -> str:
    """One MPEG-TS of the videos in order (streams copied), ``loops`` times over."""
    listing = path + ".txt"
    with open(listing, "w") as f:
        f.writelines(f"file {_quoted(os.path.abspath(v))}\n" for _ in range(loops) for v in videos)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", listing, "-map", "0:v", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", path],
                   check=True)
    return path


def _listening(port: int) -> bool:
    with open("/proc/net/tcp") as f:
        return any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in (line.split() for line in f.readlines()[1:]))


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the console script runs the command in a child)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def stream(ts: str, model_dir: str, pipeline_root: str, realtime: bool, port: int) -> dict:
    """Push ``ts`` into ``laf localize --stream``; event lines with arrival times, progress lines, RSS."""
    cmd = [*LAF, "localize", "--stream", f"tcp://127.0.0.1:{port}?listen=1", "--model", model_dir,
           "--pipeline-root", pipeline_root, "--no-reconnect", "--read-timeout", "60", "--progress-every", "20"]
    laf = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    events: List[Tuple[float, dict]] = []
    progress: List[Tuple[float, float]] = []   # (wall, stream seconds)
    errors: List[str] = []

    def read_stdout():
        for line in laf.stdout:
            events.append((time.monotonic(), json.loads(line)))

    def read_stderr():
        for line in laf.stderr:
            m = re.match(r"stream: ([\d.]+) s in", line)
            if m:
                progress.append((time.monotonic(), float(m.group(1))))
            elif "error" in line.lower():
                errors.append(line.strip())

    threads = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in threads:
        t.start()
    while not _listening(port):
        if laf.poll() is not None:
            raise RuntimeError(f"laf localize --stream ended before listening: {errors}")
        time.sleep(0.1)
    started = time.monotonic()
    pusher = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", *(["-re"] if realtime else []),
                               "-i", ts, "-c", "copy", "-f", "mpegts", f"tcp://127.0.0.1:{port}"])
    rss: List[Tuple[float, float]] = []
    while laf.poll() is None:
        rss.append((time.monotonic(), _tree_rss_mb(laf.pid)))
        time.sleep(0.5)
    ended = time.monotonic()
    pusher.wait(timeout=30)
    for t in threads:
        t.join(timeout=10)
    if laf.returncode != 0:
        raise RuntimeError(f"laf localize --stream failed ({laf.returncode}): {errors}")
    if pusher.returncode != 0:  # laf saw the end of a stream cut short: its seconds were never sent
        raise RuntimeError(f"ffmpeg stopped pushing the stream (exit status {pusher.returncode})")
    return {"started": started, "ended": ended, "events": events, "progress": progress, "rss": rss}


def matches(events: List[dict], label: str, start: float, end: float) -> List[int]:
    """Indices of the events of ``label`` with tIoU >= 0.3 with [start, end)."""
    return [i for i, e in enumerate(events) if e["label"] == label
            and float(tiou(np.array([e["start"]]), np.array([e["end"]]), start, end)[0]) >= 0.3]


def emit_delays(run: dict, records, offsets: List[float]) -> Tuple[List[float], int]:
    """Per ground-truth action: arrival of its first matching event - the action's end as played."""
    delays, unmatched = [], 0
    closed = [(t, e) for t, e in run["events"] if not e.get("partial")]
    for r, offset in zip(records, offsets):
        for s in r.segments:
            hits = [closed[i][0] for i in matches([e for _, e in closed], s.label, s.start + offset, s.end + offset)]
            if hits:
                delays.append(min(hits) - (run["started"] + s.end + offset))
            else:
                unmatched += 1
    return delays, unmatched


def carried_state(model, records, offsets: List[float], labels: List[str],
                  config: online.OnlineConfig) -> Dict[str, int]:
    """Actions matched offline by the online detector when the test videos run as one sequence (the
    state carried across the cuts, as in the stream) vs each from a zero state: what the cuts cost."""
    import tensorflow as tf

    fn = model.signatures["frame_features"]

    def events(features, timestamps, offset=0.0) -> List[dict]:
        out = fn(frame_features=tf.constant(features[None]), lengths=tf.constant([len(features)]))
        return [{"label": labels[e.label], "start": e.start + offset, "end": e.end + offset}
                for e in online.segments(timestamps, out["probabilities"].numpy()[0],
                                         out["actionness"].numpy()[0] if "actionness" in out else None, config=config)]

    one = events(np.concatenate([r.features for r in records]),
                 np.concatenate([r.timestamps + o for r, o in zip(records, offsets)]))
    each = [e for r, o in zip(records, offsets) for e in events(r.features, r.timestamps, o)]
    truth = [(s.label, s.start + o, s.end + o) for r, o in zip(records, offsets) for s in r.segments]
    return {"actions": len(truth),
            "matched_one_sequence": sum(bool(matches(one, *t)) for t in truth), "events_one_sequence": len(one),
            "matched_per_video": sum(bool(matches(each, *t)) for t in truth), "events_per_video": len(each)}


def rss_growth(run: dict) -> Tuple[float, float, float]:
    """MB per hour of stream: the slope of RSS against stream time after the first quarter (while
    the stream runs: between the first and the last progress line); and the RSS at both ends of it."""
    wall, stream_s = np.array(run["progress"]).T
    t, mb = np.array(run["rss"]).T
    inside = (t >= wall[0]) & (t <= wall[-1])
    t, mb = t[inside], mb[inside]
    at = np.interp(t, wall, stream_s)
    keep = at >= at[0] + 0.25 * (at[-1] - at[0])
    return float(np.polyfit(at[keep] / 3600.0, mb[keep], 1)[0]), float(mb[keep][0]), float(mb[keep][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline-root", default="laf-demo/pipeline")
    parser.add_argument("--latency-videos", type=int, default=0, help="test videos played in real time (0: all)")
    parser.add_argument("--rss-minutes", type=float, default=20.0, help="stream minutes of the full-speed run")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--work", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    if args.latency_videos < 0 or args.rss_minutes <= 0 or not 0 < args.port < 65535:
        parser.error("--latency-videos must be >= 0, --rss-minutes > 0 and --port in 1..65534 (it uses port + 1 too)")
    work = args.work or tempfile.mkdtemp(prefix="stream_latency_")
    os.makedirs(work, exist_ok=True)
    try:
        result = measure(args, work)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        # OSError: no ffmpeg; SubprocessError: a process that failed or hung; ValueError/IndexError: too few
        # progress lines to fit the memory growth (a tiny test split)
        raise SystemExit(f"stream_latency: error: {type(e).__name__}: {e}") from None
    finally:
        if not args.work:  # its streams grow with --rss-minutes
            shutil.rmtree(work, ignore_errors=True)
    print(dumps(result))


def measure(args: argparse.Namespace, work: str) -> Dict[str, Any]:
    """The whole measurement; what ``main`` prints."""
    run = run_records.locate(args.pipeline_root, need_model=True)
    vocabulary = Vocabulary.load(run.vocabulary)
    records = sorted(run_records.scored_records(run, vocabulary)[0]["test"], key=lambda r: r.video_id)
    model_dir, model = step_model(run.model, work)
    config = online.OnlineConfig()
    log(f"mAP of {len(records)} test videos, online vs offline")
    scores = maps(model, records, list(localize.class_names(vocabulary, len(vocabulary))), config)
    log(json.dumps(scores))

    import av

    videos = [r.source for r in records]
    durations = []
    for v in videos:
        with av.open(v) as c:
            durations.append(c.duration / av.time_base)
    offsets = list(np.concatenate([[0.0], np.cumsum(durations)[:-1]]))
    cuts = carried_state(model, records, offsets, list(vocabulary.labels), config)
    log(f"offline, test videos as one sequence vs each alone: {json.dumps(cuts)}")
    played = args.latency_videos or len(videos)
    ts = concat_ts(videos[:played], os.path.join(work, "latency.ts"))
    log(f"real-time run: {played} videos, {sum(durations[:played]):.0f} s of stream, ffmpeg -re")
    live_run = stream(ts, model_dir, args.pipeline_root, True, args.port)
    with open(os.path.join(work, "events.jsonl"), "w") as f:
        f.writelines(json.dumps({"arrived_s": round(t - live_run["started"], 3), **e}) + "\n"
                     for t, e in live_run["events"])
    delays, unmatched = emit_delays(live_run, records[:played], offsets[:played])
    log(f"{len(delays)} actions matched, {unmatched} not; delays {np.round(sorted(delays), 2).tolist()}")

    loops = int(np.ceil(args.rss_minutes * 60 / sum(durations)))
    fast_ts = concat_ts(videos, os.path.join(work, "fast.ts"), loops)
    seconds = loops * sum(durations)
    log(f"full-speed run: {seconds:.0f} s of stream ({loops} x the {len(videos)} test videos)")
    fast = stream(fast_ts, model_dir, args.pipeline_root, False, args.port + 1)
    realtime = seconds / (fast["ended"] - fast["started"])
    growth, first, last = rss_growth(fast)
    uptime = open("/proc/loadavg").read().split()[:3]
    return {
        "p95_emit_delay_s": round(float(np.percentile(delays, 95)), 3) if delays else None,
        "median_emit_delay_s": round(float(np.median(delays)), 3) if delays else None,
        "matched_actions": len(delays), "unmatched_actions": unmatched,
        "latency_stream_s": round(sum(durations[:played]), 1),
        "realtime_factor": round(realtime, 2), "fast_stream_s": round(seconds, 1),
        "rss_growth_mb_per_hour": round(growth, 2), "rss_mb_fitted_start_end": [round(first, 1), round(last, 1)],
        "online_mAP": scores["online"], "offline_mAP": scores["offline"], "carried_state_offline": cuts,
        "online_config": {"on": config.on, "off": config.off, "min_length": config.min_length},
        "load_average": [float(x) for x in uptime], "cores": os.cpu_count(),
    }


if __name__ == "__main__":
    sys.exit(bench_main("stream_latency", main))
