"""The demo's crawled images: per action, video-like highlights, off-domain renderings and
irrelevant images, with the truth of each recorded so the image filter can be scored."""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image

from laf.demo.looks import ActionLook, paste, sprite
from laf.demo.settings import KINDS, PATHS, DemoConfig, kind_counts, labels_for
from laf.demo.videos import Stage, VideoPlan

_IMAGE_SIZES = ((160, 120), (200, 150), (240, 180), (256, 256), (320, 180), (180, 240), (224, 224))


def _crop_resize(img: np.ndarray, size: Tuple[int, int], centre, zoom: float) -> Image.Image:
    """Crop ``img`` to the target aspect around ``centre`` (zoomed in), then resize."""
    H, W = img.shape[:2]
    tw, th = size
    cw = min(W, H * tw / th) / zoom
    ch = cw * th / tw
    x0 = float(np.clip(centre[0] - cw / 2, 0, W - cw))
    y0 = float(np.clip(centre[1] - ch / 2, 0, H - ch))
    return Image.fromarray(img).resize(size, Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))


def _video_like(config, label, scenes, looks, rng, size) -> Image.Image:
    """A highlight: the action's pattern on its scene, framed closer than the video is."""
    plan = VideoPlan("img", label, "train", 10.0, [(0.0, 10.0)], [], int(rng.integers(2 ** 31)))
    stage = Stage(config, plan, scenes, looks)
    t = float(rng.uniform(0, 10))
    return _crop_resize(stage.frame(t), size, stage.anchors[0], float(rng.uniform(1.0, 1.5)))


def _off_domain(look: ActionLook, rng, size, style: str) -> Image.Image:
    """Product shot on white, or a cartoon with a thick outline on a flat pastel background."""
    w, h = size
    if style == "white":
        bg = np.full((h, w, 3), 255, np.uint8)
        bg[int(h * 0.8):] = 240
        drawn = sprite(look, int(min(w, h) * rng.uniform(0.5, 0.7)))
    else:
        bg = np.empty((h, w, 3), np.uint8)
        bg[:] = rng.integers(170, 256, 3)
        for _ in range(int(rng.integers(3, 9))):  # confetti
            x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(2, 6)
            bg[max(0, y - r):y + r, max(0, x - r):x + r] = rng.integers(0, 256, 3)
        s = int(min(w, h) * rng.uniform(0.45, 0.65))
        drawn = sprite(look, s, float(rng.uniform(-25, 25)), outline=max(2, s // 14))
    paste(bg, drawn, w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h)
    return Image.fromarray(bg)


def _noise(rng, size) -> Image.Image:
    w, h = size
    style = int(rng.integers(3))
    if style == 0:
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif style == 1:
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        arr = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))
    else:
        stripes = rng.integers(0, 256, (int(rng.integers(3, 9)), 3))
        idx = (np.arange(w) * len(stripes) // w)
        arr = np.repeat(stripes[idx][None].astype(np.uint8), h, axis=0)
    return Image.fromarray(arr)


def render_images(output_dir: str, config: DemoConfig, scenes, looks) -> Dict[str, dict]:
    """Crawled-image folders; returns the truth keyed by ``<label>/<file>``."""
    rng = np.random.default_rng([config.seed, 2])
    labels = [l for ls in labels_for(config).values() for l in ls]
    counts = kind_counts(config)
    truth: Dict[str, dict] = {}
    for label in labels:
        folder = os.path.join(output_dir, PATHS["images"], label)
        os.makedirs(folder, exist_ok=True)
        kinds = [k for k in KINDS for _ in range(counts[k])]
        kinds = [kinds[i] for i in rng.permutation(len(kinds))]
        for n, kind in enumerate(kinds, 1):
            size = _IMAGE_SIZES[int(rng.integers(len(_IMAGE_SIZES)))]
            drawn: Optional[str] = label
            if kind == "video_like":
                style, img = "scene", _video_like(config, label, scenes, looks, rng, size)
            elif kind == "off_domain":
                style = ("white", "cartoon")[int(rng.integers(2))]
                img = _off_domain(looks[label], rng, size, style)
            elif rng.random() < 0.5:
                drawn = str(rng.choice([l for l in labels if l != label]))
                style = ("other_scene", "other_white")[int(rng.integers(2))]
                img = (_video_like(config, drawn, scenes, looks, rng, size) if style == "other_scene"
                       else _off_domain(looks[drawn], rng, size, "white"))
            else:
                style, drawn, img = "noise", None, _noise(rng, size)
            name = f"img_{n:04d}.jpg"
            img.save(os.path.join(folder, name), "JPEG", quality=int(rng.integers(70, 96)))
            truth[f"{label}/{name}"] = {"label": label, "kind": kind, "style": style, "drawn_label": drawn}
    return truth
