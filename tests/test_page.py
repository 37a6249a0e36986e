"""The HTML report page (laf.report.page): rendered from synthetic values and real image files, then opened
in a real headless Chromium that checks every embedded figure decodes."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import types

import numpy as np
import pytest
from PIL import Image

from file_tree import latin1_file
from laf.report import collect, page
from schemas.segment import Detection

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Injected into a copy of the report: after load, record how many <img> decoded with a real size.
CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const out = document.createElement("pre");
  out.id = "img-status";
  out.textContent = JSON.stringify({total: imgs.length, broken: bad,
                                    widths: imgs.map(i => i.naturalWidth)});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: the report test needs a real headless browser. "
                "Install it with `apt-get install -y chromium` (Debian) and rerun.")


def run_chromium(tmp_path, args, timeout=90) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def _seg(start, end, label):
    return types.SimpleNamespace(start=start, end=end, label=label)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> page.ReportData:
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    classes = ["Cook:chop", "Cook:stir", "Gym:squat"]
    images = {}
    for c, label in enumerate(classes):
        kept, dropped = [], []
        for i in range(4):
            for kind, bucket in (("kept", kept), ("dropped", dropped)):
                path = root / f"{c}_{kind}_{i}.{'png' if i % 2 else 'jpg'}"
                pixels = (rng.random((60 + 10 * i, 80, 3)) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(path)
                bucket.append(str(path))
        images[label] = {"kept": kept, "dropped": dropped}
    (root / "broken.jpg").write_bytes(b"not an image")
    images["Cook:chop"]["dropped"].append(str(root / "broken.jpg"))

    keys = (*page.METRIC_COLUMNS, "mAP@0.7", "mAP@0.1", "mAP@0.5", "average_mAP")  # unordered tIoUs, one off the paper's
    metric = lambda base: {k: base + 0.01 * i for i, k in enumerate(keys)}  # noqa: E731
    baselines = {"results": {m: {k: {"mean": v, "std": 0.02} for k, v in metric(b).items()}
                             for m, b in [("cnn", 0.2), ("lstm_uniform", 0.3), ("lstm_laf", 0.4), ("oracle", 0.5)]}}
    offset = list(range(-3, 6))
    share = [None, 0, 0, 1, 1, 0.5, 0, 0, 0]  # None: no video reaches that step
    baselines["profiles"] = {"cnn": {"offset": offset, "p_label": [None, .3, .3, .8, .8, .5, .3, .3, .3],
                                     "action_share": share},
                             "lstm_laf": {"offset": offset, "p_label": [None, .3, .3, .9, .9, .8, .6, .5, .5],
                                          "action_share": share, "actionness": [None, .1, .1, .9, .9, .4, .1, .1, .1]}}
    path = root / "baselines.json"
    path.write_text(json.dumps(baselines))
    means, stds, profiles = collect.load_baselines(str(path))
    means[page.RUN_METHOD] = metric(0.45)
    t = np.arange(0, 60, 0.5)
    timelines = [page.VideoTimeline(
        f"vid{v}", classes[v], 60.0, [_seg(10 + v, 16 + v, classes[v])],
        [Detection(f"vid{v}", 11.0, 17.0, classes[v], 0.8), Detection(f"vid{v}", 30.0, 35.0, classes[2 - v], 0.3)],
        t, np.clip(np.exp(-((t - 13 - v) / 3) ** 2), 0, 1), [_seg(29, 33, "Ambiguous")] * v) for v in range(2)]
    curves = {c: (np.array([1.0, 0.5, 0.67]), np.array([0.33, 0.33, 0.67])) for c in classes[:2]}
    curves[classes[2]] = (np.zeros(0), np.zeros(0))
    rounds = {"rounds": [{"round": r, "images_kept": 100 - 10 * r, "frames_kept": 5000 - 700 * r, "val_accuracy": acc,
                          "images_kept_per_class": {c: 30 - r for c in classes}}
                         for r, acc in [(1, .6), (2, .7), (3, .65)]],
              "chosen_round": 2, "stop_reason": "validation accuracy fell in round 3 (0.6500 after 0.7000)",
              "theta1": 0.1, "theta2": 0.5}
    return page.ReportData(metrics=means, metric_std=stds, profiles=profiles,
                           class_ap={c: 0.2 * (i + 1) for i, c in enumerate(classes)},
                           pr_curves=curves, rounds=rounds, images=images, timelines=timelines,
                           notes=["a note <b>escaped</b>"], source="/runs/demo")


@pytest.fixture(scope="module")
def rendered(data, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    return page.render(data, str(out), images_per_class=3)


def test_self_contained_and_complete(rendered):
    text = open(rendered, encoding="utf-8").read()
    assert "<th>activity_hit@5</th><th>mAP@0.1</th><th>mAP@0.5</th><th>mAP@0.7</th><th>average_mAP</th>" in text
    assert not re.search(r"""(src|href)=["'](?!data:)""", text), "external resource referenced"
    assert "<script" not in text
    srcs = re.findall(r'<img [^>]*src="(data:image/[a-z]+;base64,[^"]+)"', text)
    # plots (AP, PR, per-frame profiles, rounds, 2 timelines = 6) + 3 classes x (3 kept + 3 dropped) thumbnails
    assert len(srcs) == 6 + 18
    for heading in ("Metrics", "Per-class average precision", "Precision–recall", "Per-frame behaviour",
                    "Domain transfer", "Image filter examples", "Timelines"):
        assert heading in text
    assert "LSTM w/o LAF" in text and "0.400 ± 0.020" in text and '<tr class="run"><td>This run' in text
    assert "a note &lt;b&gt;escaped&lt;/b&gt;" in text
    assert "The loop ended: validation accuracy fell in round 3 (0.6500 after 0.7000)." in text
    assert "broken.jpg could not be read" not in text  # only 3 of 5 dropped shown: the broken one is 5th


def test_unreadable_image_is_a_note_not_a_crash(data, tmp_path):
    shown = []
    path = page.render(data, str(tmp_path / "r.html"), images_per_class=10, shown=shown)
    text = open(path, encoding="utf-8").read()
    assert "broken.jpg could not be read" in text and "4 of 5 shown" in text
    assert [n for n in shown if "could not be read" in n] == [f"image {data.images['Cook:chop']['dropped'][-1]}"
                                                             " could not be read; left out of the examples"]


def test_an_unreadable_image_first_does_not_cost_a_thumbnail(data, tmp_path):
    dropped = data.images["Cook:chop"]["dropped"]
    images = {**data.images, "Cook:chop": {**data.images["Cook:chop"], "dropped": dropped[-1:] + dropped[:-1]}}
    text = open(page.render(dataclasses.replace(data, images=images), str(tmp_path / "r.html"), images_per_class=3),
                encoding="utf-8").read()
    assert "broken.jpg could not be read" in text and "3 of 5 shown" in text


def test_an_image_named_in_latin1_is_shown_and_named(data, tmp_path):
    """A file name that is not UTF-8 reaches the page as the OS lists it (surrogate escapes)."""
    with open(data.images["Cook:chop"]["kept"][0], "rb") as f:
        latin1 = latin1_file(str(tmp_path), f.read())
    images = {**data.images, "Cook:chop": {**data.images["Cook:chop"], "kept": [latin1]}}
    text = open(page.render(dataclasses.replace(data, images=images, notes=[f"see {latin1}"]),
                            str(tmp_path / "r.html"), images_per_class=3), encoding="utf-8").read()
    assert 'title="caf?.jpg"' in text and "caf?.jpg</li>" in text and "1 of 1 shown" in text


def test_empty_data_renders(tmp_path):
    text = open(page.render(page.ReportData(metrics={}), str(tmp_path / "e.html")), encoding="utf-8").read()
    assert "No metrics." in text and "No timelines: predicted vs. true segments." in text and "<img" not in text


def test_undefined_numbers_show_as_a_dash(tmp_path):
    rounds = {"rounds": [{"round": 0, "images_kept": 9, "frames_kept": 40, "val_accuracy": None}],
              "chosen_round": 0, "theta1": 0.1, "theta2": 0.5}
    data = page.ReportData(metrics={"cnn": {"mAP@0.5": float("nan")}}, metric_std={"cnn": {"mAP@0.5": 0.0}},
                           rounds=rounds)
    text = open(page.render(data, str(tmp_path / "u.html")), encoding="utf-8").read()
    assert "<td>–</td>" in text and "± 0.000" not in text and "<td>40</td><td>–</td>" in text


def test_a_dollar_in_a_class_name_is_drawn_literally_not_as_tex():
    """`Money:$1 bet $` would be read as TeX math, which fails the whole report at savefig."""
    labels = ["Money:$1 bet $", "Money:$\\frac{$"]  # the second is malformed TeX
    assert page.class_ap_figure({labels[0]: 0.5, labels[1]: 0.25}).startswith("data:image/png;base64,")
    curves = {labels[0]: (np.array([1.0, 0.5]), np.array([0.5, 0.5])), labels[1]: (np.array([]), np.array([]))}
    assert page.pr_figure(curves, page._colors(labels)).startswith("data:image/png;base64,")


def test_the_metrics_note_names_the_run_s_map_protocol(data, tmp_path):
    text = open(page.render(dataclasses.replace(data, protocol="thumos14"), str(tmp_path / "t.html")),
                encoding="utf-8").read()
    assert "per-class AP by the THUMOS14 kit's computation (the baseline rows' mAP" in text
    assert "per-class AP by the ActivityNet computation." in page._metrics_note("activitynet")


def test_timelines_draw_ambiguous_segments():
    video = page.VideoTimeline("v", "A:b", 40.0, [_seg(5, 9, "A:b")], [Detection("v", 20.0, 24.0, "A:b", 0.6)])
    plain = page.timeline_figure(video, page._colors(["A:b"]))
    assert page.timeline_figure(dataclasses.replace(video, ambiguous=[_seg(19, 25, "Ambiguous")]),
                                page._colors(["A:b"])) != plain


def test_figures_decode_in_headless_chromium(rendered, tmp_path):
    text = open(rendered, encoding="utf-8").read()
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    result = run_chromium(tmp_path, ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()])
    match = re.search(r'<pre id="img-status">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no status from Chromium (rc {result.returncode}): {result.stderr[-2000:]}"
    status = json.loads(match.group(1).replace("&quot;", '"'))
    assert status["total"] == 24 and status["broken"] == [], status
    assert min(status["widths"]) > 0


def test_screenshot(rendered, tmp_path):
    shot = tmp_path / "shot.png"
    result = run_chromium(tmp_path, [f"--screenshot={shot}", "--window-size=1200,4000", "--hide-scrollbars",
                                     "file://" + os.path.abspath(rendered)])
    assert shot.exists(), result.stderr[-2000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # the page drew something, not a blank canvas
    if os.environ.get("LAF_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["LAF_REPORT_SCREENSHOT"])


def test_the_stop_reason_is_escaped_once(tmp_path):
    """Before, the stop reason was escaped twice: the reader saw ``&lt;`` and ``&#x27;``."""
    rounds = {"rounds": [{"round": 0, "images_kept": 9, "frames_kept": 40, "val_accuracy": 0.5}],
              "chosen_round": 0, "stop_reason": "it's < theta1", "theta1": 0.1, "theta2": 0.5}
    text = open(page.render(page.ReportData(metrics={}, rounds=rounds), str(tmp_path / "r.html")),
                encoding="utf-8").read()
    assert "The loop ended: it&#x27;s &lt; theta1." in text and "&amp;" not in text


def test_many_classes_long_names_and_long_videos_stay_legible():
    """200 classes (ActivityNet): tab20 gave classes 3 and 23 one colour in a timeline and the PR legend
    outgrew the page; a 300-character name widened a PNG to 3000 px; a 5-s action in a 6-hour video was
    drawn narrower than a pixel; 30 rounds' numbers ran into each other."""
    labels = [f"A:c{i:03d}" for i in range(200)]
    colors = page._colors(labels)
    assert colors["A:c003"] == colors["A:c023"]  # the whole-report palette repeats past 20 classes ...
    shown = page._figure_colors(["A:c003", "A:c023"], colors)
    assert shown["A:c003"] != shown["A:c023"]  # ... so a figure colours its own classes
    few = page._colors(labels[:12])
    assert page._figure_colors(labels[:2], few) is few  # up to 20 classes: one colour per class report-wide
    long = "A:" + "x" * 300
    assert len(page._short(long)) == page.PLOT_LABEL and page._short("A:b") == "A:b"
    sibling = "Activity with a long name of forty-odd characters:"  # siblings differ at the end: kept
    assert page._short(sibling + "Jump") != page._short(sibling + "Throw")

    def size(uri: str):
        import base64
        import io

        return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size

    video = page.VideoTimeline("v", long, 21600.0, [_seg(5000, 5005, long)], [Detection("v", 5000, 5005, long, 0.9)])
    assert size(page.timeline_figure(video, page._colors([long])))[0] < 1400
    curves = {c: (np.array([1.0, 0.5]), np.array([0.5, 1.0])) for c in labels}
    assert size(page.pr_figure(curves, colors))[1] < 700  # no 200-entry legend (3000 px tall) beside the plot
    rounds = {"rounds": [{"round": r, "images_kept": 10, "frames_kept": 5, "val_accuracy": 0.5} for r in range(30)],
              "chosen_round": 3}
    assert page.rounds_figure(rounds).startswith("data:image/png;base64,")


def test_past_twelve_classes_the_rounds_table_has_a_row_per_class():
    """200 classes gave the rounds table 204 columns, scrolled sideways past the page."""
    classes = [f"A:c{i:03d}" for i in range(200)]
    rounds = {"rounds": [{"round": r, "images_kept": 10, "frames_kept": 5, "val_accuracy": 0.5,
                          "images_kept_per_class": {c: r for c in classes}} for r in (1, 2)], "chosen_round": 2}
    html = page._rounds_section(rounds)
    assert html.count("<th>") + html.count('<th class="run">') == 4 + 1 + 2  # totals; class + two rounds
    assert html.count("<tr><td>A:c") == 200 and '<th class="run">round 2</th>' in html
    few = dict(rounds, rounds=[dict(e, images_kept_per_class={c: 1 for c in classes[:3]}) for e in rounds["rounds"]])
    assert page._rounds_section(few).count("<th>A:c") == 3  # up to 12 classes: a column each, as before
