"""LSTM with recurrent projection (LSTMP, Sak et al. 2014), the paper's eqs. (4)-(9).

    i_t = σ(W_ix x_t + W_ir r_{t-1} + w_ic ⊙ c_{t-1} + b_i)          (4)
    f_t = σ(W_fx x_t + W_rf r_{t-1} + w_cf ⊙ c_{t-1} + b_f)          (5)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g(W_cx x_t + W_cr r_{t-1} + b_c)     (6)
    o_t = σ(W_ox x_t + W_or r_{t-1} + w_oc ⊙ c_t + b_o)              (7)
    m_t = o_t ⊙ h(c_t)                                               (8)
    r_t = W_rm m_t                                                   (9)

Peepholes are diagonal (vectors), as in Sak et al. Eq. (10), y_t = W_yr r_t + b_y, is the
TimeDistributed output layer of ``trainer.model``. Why this layout is fast: the input term of
all four gates is one big matmul over every time step at once, and each step does a single fused
[B, P] x [P, 4N] matmul on the *projected* state — half the recurrent work of a plain LSTM with
P = N / 2 — plus the [B, N] x [N, P] projection.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from trainer.scan import time_scan

_GATES = 4  # order in the fused kernels: input, forget, cell candidate, output


@keras.saving.register_keras_serializable(package="laf")
class LSTMP(keras.layers.Layer):
    """LSTMP over [batch, time, features] -> r_t sequence [batch, time, projection].

    ``return_state`` adds the final (r, c) state; ``initial_state`` continues from one, which is
    how truncated BPTT carries state between chunks. Masked steps keep state and output.
    """

    def __init__(self, units: int, projection: int, return_sequences: bool = True,
                 return_state: bool = False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 projection_initializer="glorot_uniform", peephole_initializer="glorot_uniform",
                 unit_forget_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.projection = int(projection)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.unit_forget_bias = unit_forget_bias
        self.supports_masking = True

    @property
    def state_size(self) -> Tuple[int, int]:
        """Sizes of the (r, c) state."""
        return self.projection, self.units

    def build(self, input_shape):
        n, p, d = self.units, self.projection, int(input_shape[-1])
        self.kernel = self.add_weight(shape=(d, _GATES * n), initializer=self.kernel_initializer,
                                      name="kernel")  # W_{i,f,c,o}x
        self.recurrent_kernel = self.add_weight(
            shape=(p, _GATES * n), initializer=self.recurrent_initializer,
            name="recurrent_kernel")  # W_{i,f,c,o}r
        self.peephole = self.add_weight(shape=(3, n), initializer=self.peephole_initializer,
                                        name="peephole")  # rows w_ic, w_cf, w_oc
        self.bias = self.add_weight(shape=(_GATES * n,), initializer=self._bias_initializer,
                                    name="bias")
        self.projection_kernel = self.add_weight(
            shape=(n, p), initializer=self.projection_initializer, name="projection_kernel")  # W_rm

    def _bias_initializer(self, shape, dtype=None):
        n = self.units
        forget = tf.ones([n], dtype) if self.unit_forget_bias else tf.zeros([n], dtype)
        return tf.concat([tf.zeros([n], dtype), forget, tf.zeros([2 * n], dtype)], 0)

    def get_initial_state(self, batch_size) -> List[tf.Tensor]:
        return [tf.zeros([batch_size, self.projection], self.compute_dtype),
                tf.zeros([batch_size, self.units], self.compute_dtype)]

    def call(self, inputs, mask=None, initial_state: Optional[Sequence] = None, training=None):
        inputs = tf.convert_to_tensor(inputs, self.compute_dtype)
        if initial_state is None:
            r, c = self.get_initial_state(tf.shape(inputs)[0])
        else:
            r, c = (tf.convert_to_tensor(s, self.compute_dtype) for s in initial_state)
        # Input term of all gates for all steps in one matmul; time-major for the loop.
        xw = tf.einsum("btd,dg->tbg", inputs, self.kernel) + self.bias
        keep = None if mask is None else tf.transpose(tf.cast(mask, tf.bool))[:, :, None]
        step = _StepFn(self.recurrent_kernel, self.projection_kernel, self.peephole)
        # tf.scan (a while loop) beat static unrolling and XLA on CPU in bench/lstmp_speed.py.
        if keep is None:
            rs, cs = time_scan(lambda s, x: step(s, x, None), xw, initializer=(r, c))
        else:
            rs, cs = time_scan(lambda s, e: step(s, *e), (xw, keep), initializer=(r, c))
        sequence = tf.transpose(rs, [1, 0, 2])
        # The last step's state; the initial one for an empty sequence (a video without frames).
        r, c = tf.concat([r[None], rs], 0)[-1], tf.concat([c[None], cs], 0)[-1]
        output = sequence if self.return_sequences else r
        if self.return_state:
            return [output, r, c]
        return output

    def compute_mask(self, inputs, mask=None):
        out_mask = mask if self.return_sequences else None
        return [out_mask, None, None] if self.return_state else out_mask

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.projection) if self.return_sequences else (batch, self.projection)
        if self.return_state:
            return [out, (batch, self.projection), (batch, self.units)]
        return out

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "projection": self.projection,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "projection_initializer": keras.initializers.serialize(self.projection_initializer),
            "peephole_initializer": keras.initializers.serialize(self.peephole_initializer),
            "unit_forget_bias": self.unit_forget_bias,
        })
        return config


class _StepFn:
    """One time step of eqs. (4)-(9) with the weights read once, outside the time loop."""

    def __init__(self, recurrent_kernel, projection_kernel, peephole):
        self.w_r = tf.convert_to_tensor(recurrent_kernel)
        self.w_rm = tf.convert_to_tensor(projection_kernel)
        self.peep_i, self.peep_f, self.peep_o = tf.unstack(tf.convert_to_tensor(peephole))

    def __call__(self, state, xw_t, keep=None):
        """``xw_t``: precomputed input term incl. bias; ``keep``: [B, 1] mask of this step."""
        r_prev, c_prev = state
        z = xw_t + tf.matmul(r_prev, self.w_r)  # one fused matmul for all four gates
        z_i, z_f, z_c, z_o = tf.split(z, _GATES, axis=-1)
        i = tf.sigmoid(z_i + self.peep_i * c_prev)
        f = tf.sigmoid(z_f + self.peep_f * c_prev)
        c = f * c_prev + i * tf.tanh(z_c)
        o = tf.sigmoid(z_o + self.peep_o * c)
        r = tf.matmul(o * tf.tanh(c), self.w_rm)
        if keep is not None:  # masked step: state and output stay those of t-1
            r, c = tf.where(keep, r, r_prev), tf.where(keep, c, c_prev)
        return r, c
