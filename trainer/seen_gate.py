"""The seen gate: served class probabilities name a sibling only once an action was seen lately.

With actionness, the class head is taught its label with weight w = ``trainer.data.seen_recently``
of the frame's actionness targets and "this activity, no sibling" with weight 1 - w
(``trainer.model.frame_loss``). On a held-out video that rule cannot be read off the targets, but
the model's own actionness a_t gives the same estimate: s_t = max(a_t, the decisive part of the
earlier a_t carried forward and halved every ``SEEN_HALF_LIFE_S`` seconds): the training rule, with
one fixed step (the train split's median frame interval) instead of each video's timestamps.
The served probabilities are a_t x p_t + (s_t - a_t) x m_t + (1 - s_t) x flat(p_t), where
flat(p_t) spreads each activity's mass evenly over its siblings and m_t is the remembered sibling:
the class evidence of the decisive frames (a sum of each p weighted by its decisive actionness,
halved with the same half-life as the carried value), given the frame's own activity mass and
trusted as far as the memory lies on that activity (the rest is p_t). A frame before any action
keeps its activity but stops voting for a sibling; a frame after one names the sibling that was seen.
A sum, not the carried maximum: every decisive frame of an action votes, so one noisy frame does
not decide; a short later action of another sibling of the same activity (a live stream's next
video within a half-life) is outweighed by a long earlier one until its own decisive frames,
served their own p, add up.

Why the gate: on an unseen scene the class head's "no sibling" generalises imperfectly. Frames that look a
little like one sibling's action (Soccer context next to a low-contrast PenaltyKick, actionness
0.2-0.4) lean to that sibling, and a long context before a late action then outvotes the action
(measured on a ``laf demo --scale 4 --seed 5`` run: context collapse 0.500 -> 0.333 with the gate,
docs/learning.md, "The seen gate").

Why the memory: after the action the class head must recall, through its LSTMP state, a sibling it
saw up to a half-life ago, beyond the k-step unroll its loss reaches back over; where two siblings
are close it drifts back to the scene's favourite. Served as s_t x p_t + (1 - s_t) x flat(p_t)
(the gate before the memory), the context of all 3 Basketball:JumpShot test videos of a held-out
draw (``laf demo --seed 8 --looks 5``; frames outside every segment, between occurrences too)
preferred Basketball:FreeThrow; with the memory each prefers its own label (context collapse
0.667 -> 0.333, average-fusion Hit@1 0.972 -> 1.000; docs/learning.md, "The seen gate"). Each frame keeps its
activity's mass, so the activity argmax never changes; where the frame's own actionness is
the larger, the output is the gate without memory.

It is a recurrent step (the memory [N] and the carried value per stream), so chunked and streamed inference equal
whole-sequence inference; a live stream carries it from one video into the next, as it does the
LSTMP state. Until ``configure`` is called it is the identity (a net without siblings); a model
from before the memory (no ``seen_memory`` weight, ``laf.serve.upgrade``) serves the gate without it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from trainer.data import decisive, fade
from trainer.scan import time_scan


def keep_per_step(frame_interval_s: float) -> float:
    """The carried share left after one step of ``frame_interval_s`` seconds."""
    return float(fade(float(frame_interval_s)))


MEMORY_WEIGHT = "seen_memory"  # the gate's memory switch (1 once configured), by name for loaded SavedModels


@keras.saving.register_keras_serializable(package="laf")
class SeenGate(keras.layers.Layer):
    """(probabilities [B, T, N], actionness [B, T]) -> gated probabilities, carried memory [B, N]
    and carried decisive actionness [B, 1]."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    @property
    def state_size(self) -> List[int]:
        """(the remembered class evidence, the carried decisive actionness): an (r, c) pair like each
        LSTMP layer's state."""
        return [self.num_classes, 1]

    def compute_mask(self, inputs, previous_mask=None):
        return None  # takes the mask (padded steps keep the carried values), passes none on

    def build(self, probabilities_shape):
        n = self.num_classes
        if probabilities_shape[-1] is not None and int(probabilities_shape[-1]) != n:
            raise ValueError(f"SeenGate for {n} classes got probabilities of {probabilities_shape[-1]}")
        self.siblings = self.add_weight(shape=(n, n), initializer="identity", trainable=False, name="seen_siblings")
        self.keep = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen_keep")
        # 0: the carried share of s serves the frame's own p (a gate from before the memory, e.g. an upgraded model)
        self.remember = self.add_weight(shape=(), initializer="zeros", trainable=False, name=MEMORY_WEIGHT)

    def configure(self, siblings, frame_interval_s: float) -> None:
        """``siblings`` [N, N]: row i uniform over label i's activity (``trainer.model.sibling_targets``)."""
        self.siblings.assign(tf.cast(siblings, self.siblings.dtype))
        self.keep.assign(keep_per_step(frame_interval_s))
        self.remember.assign(1.0)

    def flat(self, probabilities):
        """Each activity's probability spread evenly over its siblings."""
        return tf.einsum("...n,nm->...m", probabilities, self.siblings)

    def recalled(self, memory, probabilities, flat):
        """The remembered sibling shape at the frame's own activity mass, so a frame's activity never
        changes; trusted as far as the memory lies on that activity (an activity never seen, e.g. a
        live stream's next video of another activity, keeps the frame's own p instead of the tails of
        another's; a next video of the same activity gets the last one's sibling until it fades).
        ``flat``: ``self.flat(probabilities)``, which the caller needs too."""
        remembered = self.flat(memory)
        shaped = tf.math.divide_no_nan(memory * flat, remembered)
        on_activity = remembered / tf.linalg.diag_part(self.siblings)  # the memory's mass on each class's activity
        trust = tf.math.divide_no_nan(on_activity, tf.reduce_sum(memory, axis=-1, keepdims=True))
        return trust * shaped + (1.0 - trust) * probabilities

    def call(self, probabilities, actionness, mask=None, carried: Optional[Sequence[tf.Tensor]] = None
             ) -> Tuple[tf.Tensor, Tuple[tf.Tensor, tf.Tensor]]:
        batch = tf.shape(actionness)[0]
        memory, seen = ((tf.zeros([batch, self.num_classes], probabilities.dtype), tf.zeros([batch], actionness.dtype))
                        if carried is None else (tf.cast(carried[0], probabilities.dtype),
                                                 tf.cast(carried[1], actionness.dtype)[:, 0]))
        valid = tf.ones_like(actionness) if mask is None else tf.cast(mask, actionness.dtype)

        def step(previous, x):
            memory, seen = previous
            now, here, p = x
            memory = here[:, None] * (memory * self.keep + now[:, None] * p) + (1.0 - here[:, None]) * memory
            return memory, here * tf.maximum(now, seen * self.keep) + (1.0 - here) * seen

        major = (tf.transpose(decisive(actionness)), tf.transpose(valid), tf.transpose(probabilities, [1, 0, 2]))
        memories, seens = time_scan(step, major, initializer=(memory, seen))
        memories, seens = tf.transpose(memories, [1, 0, 2]), tf.transpose(seens)  # [B, T, N], [B, T]
        own = actionness[..., None]
        seen_lately = tf.maximum(own, seens[..., None])
        recall = (seen_lately - own) * self.remember  # the carried share, served from the memory
        flat = self.flat(probabilities)
        gated = (seen_lately * probabilities + recall * (self.recalled(memories, probabilities, flat) - probabilities)
                 + (1.0 - seen_lately) * flat)
        final = (tf.concat([memory[:, None], memories], 1)[:, -1], tf.concat([seen[:, None], seens], 1)[:, -1:])
        return gated, final

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
