"""What the demo draws: a scene per activity and a pattern (shape, colour, motion) per action,
as sprites pasted on textured canvases."""
from __future__ import annotations

import colorsys
import dataclasses
import math
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from laf.demo.settings import DemoConfig, labels_for
from laf.errors import UserError

# Muted scene base colours and textures (one per activity, cycled).
_SCENES = (
    ((176, 124, 74), "planks"),
    ((52, 122, 56), "mowed"),
    ((34, 92, 160), "waves"),
    ((74, 62, 96), "spotlight"),
    ((58, 108, 140), "court"),
    ((196, 204, 214), "ice"),
)
# Saturated pattern colours, shapes and motions for the actions.
_COLOURS = ((235, 30, 30), (250, 222, 20), (232, 40, 200), (30, 230, 230), (250, 250, 250),
            (15, 15, 15), (140, 250, 40), (40, 60, 250), (255, 140, 0))
_SHAPES = ("disc", "triangle", "cross", "ring", "star", "square", "diamond", "bar")
_MOTIONS = ("bounce", "sweep", "spin", "orbit", "pulse")


@dataclasses.dataclass(frozen=True)
class ActionLook:
    shape: str
    colour: Tuple[int, int, int]
    motion: str


def scenes_and_looks(config: DemoConfig) -> Tuple[Dict[str, tuple], Dict[str, ActionLook]]:
    """Scene per activity and pattern per action. Siblings differ in shape and colour (and,
    in the shipped set, motion); colours too close to their scene are skipped so every
    pattern is visible. ``config.looks`` > 0 draws other scenes and patterns (see
    ``_drawn_looks``), so a method can be checked on objects it was not tuned on."""
    if config.looks:
        return _drawn_looks(config)
    scenes, actions = {}, {}
    for i, (activity, labels) in enumerate(labels_for(config).items()):
        base, texture = _SCENES[i % len(_SCENES)]
        scenes[activity] = (np.array(base, np.float32), texture, i)
        usable = _usable_colours(base)
        for j, label in enumerate(labels):
            actions[label] = ActionLook(_SHAPES[(j + 2 * i) % len(_SHAPES)],
                                        usable[(j * 2 + i) % len(usable)],
                                        _MOTIONS[(j + i) % len(_MOTIONS)])
    return scenes, actions


CONTRAST = 130  # least RGB distance between a pattern's colour and its scene's base colour


SHIFT_DIRECTION = np.array([1.0, -0.6, 0.4], np.float32)  # the base colour's step between sibling scenes


def scene_of(scenes: Dict[str, tuple], looks: Dict[str, ActionLook], label: str, shift: float) -> tuple:
    """The scene of ``label``'s videos: its activity's, with the base colour moved ``shift`` per step
    between siblings, centred on the activity's own. Why: real siblings' footage differs in context
    too (a dunk in a game, a free throw at the line); with ``shift`` > 0 context tells siblings apart
    in part, and sibling novelty (which assumes siblings share their scene) is checked against that."""
    activity = label.split(":", 1)[0]
    scene = scenes[activity]
    if not shift:
        return scene
    siblings = sorted(other for other in looks if other.split(":", 1)[0] == activity)
    step = siblings.index(label) - (len(siblings) - 1) / 2
    return (np.clip(scene[0] + shift * step * SHIFT_DIRECTION, 0, 255).astype(np.float32),) + tuple(scene[1:])


def check_visible(scenes: Dict[str, tuple], looks: Dict[str, ActionLook], shift: float) -> None:
    """Every pattern stands out on its label's scene as :func:`_usable_colours` chose it to on its
    activity's: a large ``shift`` could move a scene onto its own pattern's colour."""
    for label, look in sorted(looks.items()):
        base = scene_of(scenes, looks, label, shift)[0]
        if np.linalg.norm(np.subtract(look.colour, base)) <= CONTRAST:
            raise UserError(f"sibling scene shift (--sibling-scene-shift) {shift:g} moves {label}'s scene within"
                            f" {CONTRAST} of its pattern's colour, which would hide it: choose a smaller shift")


def _usable_colours(base) -> List[Tuple[int, int, int]]:
    """Pattern colours far enough from the scene's base colour to stand out on it."""
    return [c for c in _COLOURS if np.linalg.norm(np.subtract(c, base)) > CONTRAST]


def _drawn_looks(config: DemoConfig) -> Tuple[Dict[str, tuple], Dict[str, ActionLook]]:
    """Another set from the seed ``config.looks``: each activity a texture (shuffled) on a
    muted base colour of random hue, its actions distinct shapes and colours, and motions
    drawn with repeats allowed (siblings may move alike)."""
    rng = np.random.default_rng([config.looks, 4])
    textures = rng.permutation(len(_SCENES))
    scenes, actions = {}, {}
    for i, (activity, labels) in enumerate(labels_for(config).items()):
        hue, sat, val = rng.uniform(0, 1), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.75)
        base = tuple(int(255 * v) for v in colorsys.hsv_to_rgb(hue, sat, val))
        scenes[activity] = (np.array(base, np.float32), _SCENES[textures[i % len(_SCENES)]][1], i)
        usable = _usable_colours(base)
        shapes = rng.permutation(len(_SHAPES))
        colours = rng.permutation(len(usable))
        for j, label in enumerate(labels):
            actions[label] = ActionLook(_SHAPES[shapes[j % len(_SHAPES)]], usable[colours[j % len(usable)]],
                                        _MOTIONS[int(rng.integers(len(_MOTIONS)))])
    return scenes, actions


def _shape_mask(shape: str, size: int) -> Image.Image:
    """An 'L' mask of ``shape`` filling a size x size box."""
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    s, c = size - 1, size / 2
    if shape == "disc":
        d.ellipse([0, 0, s, s], fill=255)
    elif shape == "ring":
        d.ellipse([0, 0, s, s], fill=255)
        d.ellipse([size * 0.3, size * 0.3, size * 0.7, size * 0.7], fill=0)
    elif shape == "triangle":
        d.polygon([(c, 0), (s, s), (0, s)], fill=255)
    elif shape == "cross":
        t = size * 0.17
        d.rectangle([c - t, 0, c + t, s], fill=255)
        d.rectangle([0, c - t, s, c + t], fill=255)
    elif shape == "star":
        pts = [(c + (c if k % 2 == 0 else c * 0.42) * math.sin(k * math.pi / 5),
                c - (c if k % 2 == 0 else c * 0.42) * math.cos(k * math.pi / 5)) for k in range(10)]
        d.polygon(pts, fill=255)
    elif shape == "square":
        d.rectangle([size * 0.08, size * 0.08, s - size * 0.08, s - size * 0.08], fill=255)
    elif shape == "diamond":
        d.polygon([(c, 0), (s, c), (c, s), (0, c)], fill=255)
    elif shape == "bar":
        d.rectangle([0, c - size * 0.16, s, c + size * 0.16], fill=255)
        d.ellipse([c - size * 0.22, c - size * 0.22, c + size * 0.22, c + size * 0.22], fill=255)
    else:
        raise ValueError(shape)
    return m


def sprite(look: ActionLook, size: int, angle: float = 0.0, outline: int = 0) -> np.ndarray:
    """RGBA uint8 sprite: the pattern in its colour, with a dark inner mark so shape and
    colour both show; ``outline`` > 0 adds a cartoon-style black outline."""
    mask = _shape_mask(look.shape, size)
    inner = _shape_mask(look.shape, max(4, size // 3))
    rgb = Image.new("RGB", (size, size), look.colour)
    mark = tuple(int(v * 0.35) for v in look.colour)
    off = (size - inner.size[0]) // 2
    rgb.paste(Image.new("RGB", inner.size, mark), (off, off), inner)
    img = Image.merge("RGBA", (*rgb.split(), mask))
    if outline:
        pad = outline + 1
        big = Image.new("RGBA", (size + 2 * pad, size + 2 * pad), (0, 0, 0, 0))
        grown = Image.new("L", big.size, 0)
        grown.paste(mask, (pad, pad))
        grown = grown.filter(ImageFilter.MaxFilter(2 * outline + 1))
        big.paste(Image.new("RGBA", big.size, (10, 10, 10, 255)), (0, 0), grown)
        big.alpha_composite(img, (pad, pad))
        img = big
    if angle:
        img = img.rotate(angle, resample=Image.BILINEAR, expand=True)
    return np.asarray(img)


def paste(canvas: np.ndarray, picture: np.ndarray, cx: float, cy: float, alpha: float = 1.0) -> None:
    """Alpha-blend ``picture`` centred at (cx, cy) into ``canvas`` (uint8 HxWx3), clipped."""
    h, w = picture.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = canvas.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xa >= xb or ya >= yb:
        return
    src = picture[ya - y0:yb - y0, xa - x0:xb - x0]
    a = src[..., 3:4].astype(np.float32) * (alpha / 255.0)
    dst = canvas[ya:yb, xa:xb].astype(np.float32)
    canvas[ya:yb, xa:xb] = (dst * (1 - a) + src[..., :3] * a + 0.5).astype(np.uint8)


def scene_canvas(scene: tuple, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A scene texture larger than the frame (the camera pans over it), jittered per video."""
    base, texture, _ = scene
    H, W = height, width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    shade = np.zeros((H, W), np.float32)
    lines = np.zeros((H, W), bool)
    if texture == "planks":
        plank = (xx // 14).astype(int)
        shade = (plank * 7919 % 11 - 5) * 3.0 + 4 * np.sin(yy / 3 + plank)
        lines = (np.abs(xx - W / 2) < 1.5) | (np.abs(np.hypot(xx - W / 2, yy - H / 2) - 34) < 1.2)
    elif texture == "mowed":
        shade = np.where(((xx + yy * 0.4) // 22) % 2 == 0, 12.0, -12.0)
        lines = (np.abs(yy - H * 0.15) < 1.2) | (np.abs(yy - H * 0.85) < 1.2) | (np.abs(xx - W / 2) < 1.2)
    elif texture == "waves":
        shade = 14 * np.sin(xx / 9 + 2 * np.sin(yy / 7))
        lines = (np.abs((yy % 30) - 15) < 1.3)
    elif texture == "spotlight":
        shade = 60 * np.exp(-((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / (2 * (W / 5) ** 2)) - 15
        shade += ((xx.astype(int) * 31 + yy.astype(int) * 17) % 23 == 0) * 40.0
    elif texture == "court":
        shade = np.where(np.abs(yy - H / 2) < H / 4, 18.0, -6.0)
        lines = (np.abs(yy - H / 4) < 1.2) | (np.abs(yy - 3 * H / 4) < 1.2) | (np.abs(xx - W / 3) < 1.2)
    elif texture == "ice":
        shade = 6 * np.sin(xx / 17 + yy / 23)
        lines = (np.abs(xx - W / 2) < 2.0) | (np.abs(xx - W / 4) < 1.2) | (np.abs(xx - 3 * W / 4) < 1.2)
    tint = rng.uniform(-12, 12, 3).astype(np.float32)
    img = base[None, None] * rng.uniform(0.85, 1.15) + tint + shade[..., None]
    line_colour = np.array((200, 40, 40) if texture == "ice" else (235, 235, 235), np.float32)
    img[lines] = line_colour
    img += rng.normal(0, 4, img.shape).astype(np.float32)  # per-video grain, fixed in time
    return np.clip(img, 0, 255).astype(np.uint8)


def players(activity_index: int, rng: np.random.Generator, n: int, scale: float = 1.0):
    """Distractor sprites shared by all actions of an activity (its 'players')."""
    teams = ((30, 30, 120), (230, 230, 230), (120, 20, 20), (20, 20, 20), (200, 200, 60))
    out = []
    for k in range(n):
        colour = teams[(activity_index + k % 2) % len(teams)]
        look = ActionLook(("disc", "square")[k % 2], colour, "")
        size = max(5, int(rng.integers(7, 13) * scale))
        out.append(sprite(look, size))
    return out
