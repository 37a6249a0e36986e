"""The HTML report of a pipeline run (issue 7): one self-contained file, every plot an embedded PNG.

:func:`render` turns a :class:`ReportData` of plain Python/NumPy values into the HTML file, so the page
can be built and checked without a finished run; ``laf.report.collect`` gathers those values from one.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import numbers
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from laf import files

if TYPE_CHECKING:  # annotations only
    from matplotlib.figure import Figure

    from schemas.segment import Detection, Segment

RUN_METHOD = "this_run"
# Display names of the methods of bench/paper_tables.py, in the paper's order (its tables and this page).
METHOD_NAMES = {RUN_METHOD: "This run", "cnn": "CNN (single frame)", "lstm_uniform": "LSTM w/o LAF",
                "lstm_random30": "LSTM random 30 %", "lstm_laf_paper": "LSTM w/ LAF (paper: average fusion)",
                "lstm_laf": "LSTM w/ LAF + actionness (ours)", "oracle": "Oracle (GT weights + actionness)"}
METRIC_COLUMNS = ("hit@1", "hit@5", "activity_hit@1", "activity_hit@5")  # then every mAP@t present, by t, and average_mAP
THUMBNAIL_PX = 96


@dataclasses.dataclass
class VideoTimeline:
    """One test video: true segments, detections and (optionally) the true class's per-frame probability."""

    video_id: str
    label: str
    duration: float
    ground_truth: Sequence["Segment"]            # anything with start, end, label
    detections: Sequence["Detection"]
    timestamps: Optional[np.ndarray] = None      # [T] seconds
    true_probability: Optional[np.ndarray] = None  # [T] evidence of the video's label: p x actionness (p alone without actionness)
    ambiguous: Sequence["Segment"] = ()          # THUMOS14 Ambiguous: a detection there is neither right nor wrong


@dataclasses.dataclass
class ReportData:
    """Everything the report shows; empty parts are reported as missing rather than drawn."""

    metrics: Dict[str, Dict[str, float]]                   # method -> metric -> value
    metric_std: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    class_ap: Dict[str, float] = dataclasses.field(default_factory=dict)  # class -> AP at tIoU 0.5
    pr_curves: Dict[str, Tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)
    rounds: Optional[Dict[str, Any]] = None               # rounds.json of domain transfer
    images: Dict[str, Dict[str, List[str]]] = dataclasses.field(default_factory=dict)  # class -> kept/dropped paths
    timelines: List[VideoTimeline] = dataclasses.field(default_factory=list)
    # method -> label_probability_profile (offset, p_label, action_share, [actionness]), from the baselines file
    profiles: Dict[str, Dict[str, Sequence[Optional[float]]]] = dataclasses.field(default_factory=dict)
    notes: List[str] = dataclasses.field(default_factory=list)  # what is missing and why
    title: str = "LAF pipeline report"
    source: str = ""                                       # the pipeline root, for the header
    protocol: str = "activitynet"                          # how the run's mAP was computed (evaluation.protocol)


# --- figures -----------------------------------------------------------------------------------

def _figure_of(**kwargs):
    """A matplotlib Figure outside pyplot: no global backend or figure registry is touched."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def literal_text(draw):
    """Draw with every text taken literally: labels are data (class names, video ids), and a ``$`` in one
    would be read as TeX math, which fails the whole report at ``savefig``."""
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _png(fig) -> str:
    """A matplotlib figure as a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _colors(labels: Sequence[str]) -> Dict[str, Any]:
    """One colour per class, the same in every figure; past 20 classes a palette repeats, so a figure
    colours its own few classes instead (:func:`_figure_colors`)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(labels) > 10 else "tab10"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(sorted(labels))}


MAX_COLORS = 20  # tab20's colours: more classes share colours


def _figure_colors(shown: Sequence[str], colors: Mapping[str, Any]) -> Mapping[str, Any]:
    """``colors`` while every class has its own (<= 20 classes), else colours for ``shown`` alone: with
    ActivityNet's 200 classes classes 3 and 23 looked alike in one timeline."""
    return colors if len(colors) <= MAX_COLORS else _colors(shown)


PLOT_LABEL = 40  # characters of a class name in a plot: a 300-character name widened a PNG to 3000 px


def _short(label: str) -> str:
    """``label`` as a plot shows it, its start and its end (``Activity:Action``: siblings differ at the
    end); the HTML tables keep the whole name."""
    if len(label) <= PLOT_LABEL:
        return label
    head = (PLOT_LABEL - 1) // 2
    return label[:head] + "…" + label[-(PLOT_LABEL - 1 - head):]


@literal_text
def class_ap_figure(class_ap: Mapping[str, float]) -> str:
    labels = sorted(class_ap)
    values = [class_ap[c] for c in labels]
    fig = _figure_of(figsize=(7, 0.35 * len(labels) + 1.2))
    ax = fig.subplots()
    ax.barh(range(len(labels)), values, color="#4c72b0")  # by position: two names may shorten alike
    ax.set_yticks(range(len(labels)), [_short(c) for c in labels])
    mean = float(np.mean(values))
    ax.axvline(mean, color="#c44e52", ls="--", label=f"mAP = {mean:.3f}")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("AP at tIoU 0.5")
    ax.legend(loc="lower right")
    return _png(fig)


@literal_text
def pr_figure(curves: Mapping[str, Tuple[np.ndarray, np.ndarray]], colors: Mapping[str, Any]) -> str:
    """Each class's curve in its colour with a legend; past 20 classes (colours would repeat and the
    legend outgrow the plot) thin grey curves without one, the per-class AP chart naming the classes."""
    fig = _figure_of(figsize=(7, 5))
    ax = fig.subplots()
    legend = len(curves) <= MAX_COLORS
    colors = _figure_colors(sorted(curves), colors)
    for label in sorted(curves):
        precision, recall = (np.asarray(a, np.float64) for a in curves[label])
        style = {"color": colors[label]} if legend else {"color": "grey", "alpha": 0.4, "lw": 0.8}
        if precision.size == 0:
            ax.plot([], [], label=f"{_short(label)} (no detections)", **style)
            continue
        ax.step(np.concatenate([[0.0], recall]), np.concatenate([[precision[0]], precision]),
                where="pre", label=_short(label), **style)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    if legend:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.set_title(f"{len(curves)} classes (see the per-class AP chart for each one's)", fontsize=9)
    return _png(fig)


@literal_text
def rounds_figure(rounds: Mapping[str, Any]) -> str:
    entries = rounds["rounds"]
    r = [int(e["round"]) for e in entries]
    chosen = rounds.get("chosen_round")
    fig = _figure_of(figsize=(12, 3.2))
    axes = fig.subplots(1, 3)
    panels = [("images_kept", "images kept", "#4c72b0"), ("frames_kept", "frames kept", "#dd8452"),
              ("val_accuracy", "validation accuracy", "#55a868")]
    for ax, (key, title, color) in zip(axes, panels):
        ax.plot(r, [np.nan if e.get(key) is None else e[key] for e in entries], "o-", color=color)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("round")
        if len(r) <= 12:
            ax.set_xticks(r)
        else:  # 30 rounds' numbers ran into each other
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if chosen is not None:
            ax.axvline(chosen, color="#c44e52", ls=":", lw=2, label=f"chosen round {chosen}")
    axes[2].set_ylim(0, 1.02)
    axes[2].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _png(fig)


@literal_text
def timeline_figure(video: VideoTimeline, colors: Mapping[str, Any], max_detections: int = 8) -> str:
    """Ground truth and the best detections as bars on a time axis, the true class's probability below;
    ``colors`` (class -> colour, see :func:`_colors`) keeps a class's colour the same in every figure."""
    from matplotlib.patches import Rectangle

    detections = sorted(video.detections, key=lambda d: -d.score)[:max_detections]
    labels = sorted({s.label for s in video.ground_truth} | {d.label for d in detections} | {video.label})
    colors = _figure_colors(labels, colors)
    ends = [s.end for s in [*video.ground_truth, *video.ambiguous, *detections]]
    span = max(video.duration, max(ends + [1]))
    least = span / 300  # a bar's drawn width at least: a 5-s action in a 6-hour video was under a pixel
    has_curve = video.true_probability is not None and video.timestamps is not None
    fig = _figure_of(figsize=(10, 2.8 if has_curve else 1.8))
    axes = fig.subplots(2 if has_curve else 1, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [1.4, 1] if has_curve else [1]})
    ax = axes[0, 0]
    for s in video.ground_truth:
        ax.barh(1, max(s.end - s.start, least), left=s.start, color=colors[s.label], edgecolor="black", height=0.6)
    for s in video.ambiguous:
        ax.barh(1, max(s.end - s.start, least), left=s.start, color="none", edgecolor="grey", hatch="///", height=0.6)
    for d in detections:
        ax.barh(0, max(d.end - d.start, least), left=d.start, color=colors[d.label],
                alpha=0.35 + 0.65 * min(max(d.score, 0), 1), edgecolor="black", height=0.6)
    ax.set_yticks([0, 1], [f"predicted (top {len(detections)})", "ground truth"])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlim(0, span)
    handles = [Rectangle((0, 0), 1, 1, color=colors[c]) for c in labels]
    if video.ambiguous:
        handles.append(Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="grey", hatch="///"))
    ax.legend(handles, [_short(c) for c in labels] + ["Ambiguous"] * bool(video.ambiguous), fontsize=7,
              loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{_short(video.video_id)}  (label: {_short(video.label)})", fontsize=9)
    if has_curve:
        ax_p = axes[1, 0]
        ax_p.plot(video.timestamps, video.true_probability, color=colors[video.label])
        ax_p.set_ylim(0, 1.02)
        ax_p.set_ylabel("evidence", fontsize=8)  # p(label) x actionness, or p(label) without actionness
    axes[-1, 0].set_xlabel("time (s)")
    return _png(fig)


def _method_order(methods) -> List[str]:
    """The paper's order (``METHOD_NAMES``), then any other method by name."""
    return [m for m in METHOD_NAMES if m in methods] + sorted(set(methods) - set(METHOD_NAMES))


@literal_text  # its texts take the rc setting when made, so the caller's savefig later is safe too
def profile_figure(profiles: Mapping[str, Mapping[str, Sequence[Optional[float]]]]) -> "Figure":
    """Per method, the mean probability of a test video's own label around its first action frame
    (``laf.evaluate.diagnostics.label_probability_profile``), its actionness dashed where the method
    has one, and grey bars for the share of videos on an action frame."""
    import matplotlib

    if not profiles:
        raise ValueError("no profiles to draw")

    def values(sequence) -> np.ndarray:  # JSON lists hold None where no video reaches a step
        return np.asarray([np.nan if x is None else x for x in sequence], np.float64)

    fig = _figure_of(figsize=(10, 4))
    ax = fig.subplots()
    first = next(iter(profiles.values()))
    ax.bar(values(first["offset"]), values(first["action_share"]), width=1.0, color="#dddddd",
           label="videos on an action frame")
    cmap = matplotlib.colormaps["tab10"]
    for i, method in enumerate(_method_order(profiles)):
        profile = profiles[method]
        name = METHOD_NAMES.get(method, method)
        offset = values(profile["offset"])
        ax.plot(offset, values(profile["p_label"]), color=cmap(i % cmap.N), label=f"{name}: p(label)")
        if "actionness" in profile:
            ax.plot(offset, values(profile["actionness"]), color=cmap(i % cmap.N), ls="--",
                    label=f"{name}: actionness")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time steps from the video's first action frame")
    ax.set_ylabel("mean over test videos")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def thumbnail(path: str, size: int = THUMBNAIL_PX) -> Optional[str]:
    """A JPEG thumbnail data URI, or None for a file Pillow cannot read (reported, not fatal)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- HTML ----------------------------------------------------------------------------------------

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.run td { font-weight: bold; background: #eef4ff; }
figure { margin: .8em 0; } figcaption { font-size: .85em; color: #555; }
img.plot { max-width: 100%; }
.thumbs { display: flex; flex-wrap: wrap; gap: 4px; margin: .2em 0; }
table.images td { vertical-align: top; text-align: left; font-size: .8em; color: #555; }
table.images td:first-child { font-size: 1em; color: #222; }
.thumbs img { width: 96px; height: 96px; object-fit: cover; border: 3px solid; }
.kept img { border-color: #55a868; } .dropped img { border-color: #c44e52; }
.note { color: #8a5300; font-size: .9em; }
"""


def _esc(value: Any) -> str:
    """HTML-escaped text; a file name that is not UTF-8 (listed with surrogate escapes) shows its
    undecodable bytes as "?", since the page is UTF-8."""
    return html.escape(str(value).encode("utf-8", "replace").decode("utf-8"))


def _figure(uri: str, caption: str, alt: str) -> str:
    return (f'<figure><img class="plot" src="{uri}" alt="{_esc(alt)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _number(value: Any) -> str:
    """``value`` to 3 decimals; "–" for a missing or undefined (NaN) number."""
    return f"{value:.3f}" if isinstance(value, numbers.Real) and np.isfinite(value) else "–"


def _metrics_table(data: ReportData) -> str:
    present = {m for values in data.metrics.values() for m in values}
    maps = sorted((m for m in present if m.startswith("mAP@")), key=lambda m: float(m[4:]))
    columns = [c for c in (*METRIC_COLUMNS, *maps, "average_mAP") if c in present]
    order = _method_order(data.metrics)
    rows = ["<tr><th>method</th>" + "".join(f"<th>{_esc(c)}</th>" for c in columns) + "</tr>"]
    for method in order:
        cells = []
        for c in columns:
            value = data.metrics[method].get(c)
            std = data.metric_std.get(method, {}).get(c)
            text = _number(value)
            cells.append(f"<td>{text}{f' ± {std:.3f}' if std is not None and text != '–' else ''}</td>")
        css = ' class="run"' if method == RUN_METHOD else ""
        rows.append(f"<tr{css}><td>{_esc(METHOD_NAMES.get(method, method))}</td>{''.join(cells)}</tr>")
    return "<table>" + "".join(rows) + "</table>"


CLASS_COLUMNS = 12  # classes the rounds table shows as columns; more are rows (200 columns scrolled sideways)


def _rounds_section(rounds: Mapping[str, Any]) -> str:
    entries = rounds["rounds"]
    classes = sorted({c for e in entries for c in e.get("images_kept_per_class", {})})
    across = classes if len(classes) <= CLASS_COLUMNS else []
    head = "<tr><th>round</th><th>images kept</th><th>frames kept</th><th>val. accuracy</th>" + "".join(
        f"<th>{_esc(c)}</th>" for c in across) + "</tr>"
    body = []
    for e in entries:
        css = _chosen_css(e, rounds.get("chosen_round"))
        per_class = e.get("images_kept_per_class", {})
        body.append(f"<tr{css}><td>{_esc(e['round'])}</td><td>{_esc(e['images_kept'])}</td>"
                    f"<td>{_esc(e['frames_kept'])}</td><td>{_number(e.get('val_accuracy'))}</td>"
                    + "".join(f"<td>{_esc(per_class.get(c, ''))}</td>" for c in across) + "</tr>")
    table = "<table>" + head + "".join(body) + "</table>"
    if not across and classes:
        table += _per_class_rows(entries, classes, rounds.get("chosen_round"))
    thetas = ", ".join(f"{k} = {rounds[k]}" for k in ("theta1", "theta2") if k in rounds)
    stopped = f" The loop ended: {rounds['stop_reason']}." if rounds.get("stop_reason") else ""  # _figure escapes
    caption = (f"Images and frames kept, and validation accuracy per round; the chosen round "
               f"({rounds.get('chosen_round')}) is marked.{stopped} {thetas}")
    return _figure(rounds_figure(rounds), caption, "domain-transfer rounds") + \
        "<p>Images kept per class (chosen round highlighted):</p>" + table


def _chosen_css(entry: Mapping[str, Any], chosen) -> str:
    """The chosen round's cells are highlighted as this run's rows are."""
    return ' class="run"' if entry["round"] == chosen else ""


def _per_class_rows(entries, classes: Sequence[str], chosen) -> str:
    """Images kept per class and round, a class per row (past :data:`CLASS_COLUMNS` classes)."""
    head = "<tr><th>class</th>" + "".join(f"<th{_chosen_css(e, chosen)}>round {_esc(e['round'])}</th>"
                                          for e in entries) + "</tr>"
    rows = ["<tr><td>" + _esc(c) + "</td>" + "".join(
        f"<td{_chosen_css(e, chosen)}>{_esc(e.get('images_kept_per_class', {}).get(c, ''))}</td>" for e in entries)
        + "</tr>" for c in classes]
    return "<table>" + head + "".join(rows) + "</table>"


def _thumbnails(paths: Sequence[str], kind: str, limit: int, notes: List[str]) -> str:
    thumbs = []
    for path in paths:  # past an unreadable one, up to ``limit`` that decode
        if len(thumbs) == limit:
            break
        uri = thumbnail(path)
        if uri is None:
            notes.append(f"image {path} could not be read; left out of the examples")
            continue
        thumbs.append(f'<img src="{uri}" title="{_esc(os.path.basename(path))}" alt="{kind} image">')
    return f'<div class="thumbs {kind}">{"".join(thumbs)}</div><div>{len(thumbs)} of {len(paths)} shown</div>'


def _images_section(images: Mapping[str, Mapping[str, Sequence[str]]], per_class: int, notes: List[str]) -> str:
    rows = ["<tr><th>class</th><th>kept</th><th>dropped</th></tr>"]
    for label in sorted(images):
        cells = "".join(f"<td>{_thumbnails(images[label].get(kind, []), kind, per_class, notes)}</td>"
                        for kind in ("kept", "dropped"))
        rows.append(f"<tr><td>{_esc(label)}</td>{cells}</tr>")
    return '<table class="images">' + "".join(rows) + "</table>"


def _class_names(data: ReportData) -> List[str]:
    """Every class the report mentions, so a class has one colour in every figure."""
    names = set(data.class_ap) | set(data.pr_curves) | set(data.images)
    for video in data.timelines:
        names |= {video.label} | {x.label for x in [*video.ground_truth, *video.detections]}
    return sorted(names)


_PROTOCOL_NAMES = {"activitynet": "the ActivityNet computation", "thumos14": "the THUMOS14 kit's computation"}


def _metrics_note(protocol: str) -> str:
    baselines = ("" if protocol == "activitynet" else
                 " (the baseline rows' mAP, from bench/paper_tables.py, is the ActivityNet computation)")
    return ("<p>Hit@k: video-level classification, fused as the product fuses a model's frames (k-max pooling of "
            "probability x actionness for a model with actionness, else the paper's average fusion); activity "
            "Hit@1: the same over activities; mAP@t: temporal-localization mAP at tIoU t, this run's and the "
            f"per-class AP by {_PROTOCOL_NAMES.get(protocol, protocol)}{baselines}. Baseline rows show mean ± std "
            "over seeds (population std), from bench/paper_tables.py. Every mAP here ignores false positives on the "
            "Ambiguous segments (THUMOS14's rule) that the run's records carry.</p>")
_IMAGES_NOTE = ("<p>Web images of the chosen round's filter: kept (green) and dropped (red) by CNN_v's score of "
                "the image's own label against theta1.</p>")


def render(data: ReportData, path: str, images_per_class: int = 6, shown: Optional[List[str]] = None) -> str:
    """Write the report to ``path`` (one HTML file, no external resources); returns the path.
    ``shown``: a list that receives every note the page shows, the data's and those the page adds
    (an unreadable image), for a command to print."""
    notes = list(data.notes)
    colors = _colors(_class_names(data))
    sections = [
        ("Metrics", data.metrics, lambda: _metrics_table(data) + _metrics_note(data.protocol)),
        ("Per-class average precision (tIoU 0.5)", data.class_ap, lambda: _figure(
            class_ap_figure(data.class_ap), "AP per class at tIoU 0.5; the dashed line is their mean.", "per-class AP")),
        ("Precision–recall at tIoU 0.5", data.pr_curves, lambda: _figure(
            pr_figure(data.pr_curves, colors), "Precision and recall after each ranked detection, per class.",
            "precision-recall curves")),
        ("Per-frame behaviour around the action", data.profiles, lambda: _figure(
            _png(profile_figure(data.profiles)), "Mean probability of a test video's own label (solid) and actionness "
            "(dashed) by time step from its first action frame, per method of the baselines file; grey: share of the "
            "videos on an action frame. A method localizes when its curve falls again after the action.",
            "per-frame behaviour around the action")),
        ("Domain transfer", data.rounds and data.rounds.get("rounds"), lambda: _rounds_section(data.rounds)),
        ("Image filter examples", data.images,
         lambda: _IMAGES_NOTE + _images_section(data.images, images_per_class, notes)),
        ("Timelines: predicted vs. true segments", data.timelines, lambda: "".join(_figure(
            timeline_figure(video, colors), f"{video.video_id}: ground truth (top row; hatched: Ambiguous), detections "
            "(bottom row, "
            "opacity = score) and the label's per-frame evidence (probability x actionness; the probability alone for a "
            "model without actionness).", f"timeline {video.video_id}")
            for video in data.timelines)),
    ]
    body = [f"<h1>{_esc(data.title)}</h1>"]
    if data.source:
        body.append(f"<p>Pipeline root: <code>{_esc(data.source)}</code></p>")
    for title, present, make in sections:
        body.append(f"<h2>{_esc(title)}</h2>" + (make() if present else f"<p>No {_esc(title.lower())}.</p>"))
    if shown is not None:
        shown.extend(notes)
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{_esc(n)}</li>' for n in notes) + "</ul>")
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_esc(data.title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_atomic(path, page.encode("utf-8"))  # a killed run keeps the previous report whole
    return path
