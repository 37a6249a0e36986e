"""Checks of Algorithm 1's thresholds that need no TF, shared by the library's ``TransferConfig``
and the pipeline config (which must show a mistake before TF loads)."""
from __future__ import annotations

from laf.errors import UserError


def check_something_kept(theta1: float, theta2: float, min_images: int, min_frames: int, prefix: str = "") -> None:
    """A threshold of 1 keeps only each class's floor (no softmax score exceeds 1), which is a way to
    keep every class's best rows; with a floor of 0 it keeps nothing, which round 1 would find out
    only after training CNN_v."""
    for theta, value, floor, minimum in (("theta1", theta1, "min_images_per_class", min_images),
                                         ("theta2", theta2, "min_frames_per_class", min_frames)):
        if value >= 1.0 and minimum == 0:
            raise UserError(f"{prefix}{theta} {value:g} keeps no row (a softmax score never exceeds 1) and"
                            f" {prefix}{floor} 0 keeps none either: lower {theta} or raise {floor}")
