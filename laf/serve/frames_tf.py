"""Graph twin of :func:`laf.ingest.images.prepare` (encoded image -> backbone input) in TensorFlow
ops, so a SavedModel can take JPEG/PNG frames and featurize them itself (``localize_frames``).

The product turns an encoded image into the backbone's ``[size, size, 3]`` uint8 input by
decoding a JPEG with libjpeg's DCT downscale (``images._jpeg_ratio``), a PNG as 16 bits shifted
to 8 with alpha composited over white, then Pillow's antialiased bilinear resize. Features move
with every pixel, so each step is reproduced to the bit: Pillow's resize is re-done with its
own fixed-point coefficients (``Resample.c``: 22 fractional bits, horizontal pass first, uint8
in between), not with ``tf.image.resize``, whose bilinear filter rounds differently.
Not reproduced: EXIF orientation (video frames carry none) and CMYK JPEGs (Pillow-only there).
"""
from __future__ import annotations

import tensorflow as tf

PRECISION_BITS = 22  # Pillow's fixed point for 8-bit resampling: 32 - 8 - 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_RATIOS = (1, 2, 4, 8)


def _jpeg_ratio(shape: tf.Tensor, target: int) -> tf.Tensor:
    """Index into ``JPEG_RATIOS`` of ``images._jpeg_ratio``: the largest ratio keeping the short side >= target."""
    short = tf.minimum(shape[0], shape[1])
    fits = tf.stack([short // r >= target for r in JPEG_RATIOS[1:]])  # ratio 2, 4, 8
    return tf.reduce_max(tf.where(fits, tf.range(1, len(JPEG_RATIOS)), 0))


def _decode_jpeg(data: tf.Tensor, target: int) -> tf.Tensor:
    ratio = _jpeg_ratio(tf.io.extract_jpeg_shape(data), target)
    return tf.switch_case(ratio, [lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r) for r in JPEG_RATIOS])


def _has_transparent_colour(data: tf.Tensor) -> tf.Tensor:
    """Whether a PNG has a tRNS chunk, which the format puts before its first IDAT: walks the chunks'
    length and type fields up to there."""
    size = tf.cast(tf.strings.length(data), tf.int64)

    def step(offset, _):
        length = tf.io.decode_raw(tf.strings.substr(data, offset, 4), tf.uint8)
        length = tf.reduce_sum(tf.cast(length, tf.int64) * tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64))
        return offset + 12 + length, tf.strings.substr(data, offset + 4, 4)

    def more(offset, found):
        return (offset + 8 <= size) & (found != b"tRNS") & (found != b"IDAT")

    _, found = tf.while_loop(more, step, (tf.constant(len(PNG_MAGIC), tf.int64), tf.constant(b"")))
    return tf.equal(found, b"tRNS")


def _decode_png(data: tf.Tensor) -> tf.Tensor:
    """RGBA at 16 bits >> 8 (as the product decodes), alpha composited over white in float32 as
    ``images._flatten`` does (an opaque pixel's colour comes back unchanged).

    A grey or palette PNG of 1, 2 or 4 bits per pixel without a transparent colour (tRNS) is opaque:
    asked for 4 channels, TensorFlow's decoder fills its alpha with the unscaled largest value of
    that depth (1, 3 or 15 of 255), which turned its frames nearly white."""
    rgba = tf.bitwise.right_shift(tf.io.decode_png(data, channels=4, dtype=tf.uint16), 8)
    header = tf.io.decode_raw(tf.strings.substr(data + b"\0" * 26, 24, 2), tf.uint8)  # IHDR: bit depth, colour type
    depth, colour = header[0], header[1]
    opaque = (depth < 8) & ((colour == 0) | (colour == 3)) & ~_has_transparent_colour(data)
    color = tf.cast(rgba[..., :3], tf.float32)
    alpha = tf.where(opaque, 1.0, tf.cast(rgba[..., 3:], tf.float32) / 255.0)  # not TF's filler
    return tf.cast(tf.round(color * alpha + 255.0 * (1.0 - alpha)), tf.uint8)


def decode(data: tf.Tensor, index: tf.Tensor, target: int) -> tf.Tensor:
    """One encoded frame -> RGB uint8 [H, W, 3]; anything but JPEG or PNG fails with a message
    naming the frame (rather than some decoder's guess at it)."""
    is_png = tf.strings.substr(data, 0, len(PNG_MAGIC)) == PNG_MAGIC
    is_jpeg = tf.io.is_jpeg(data)
    message = tf.strings.format("localize_frames: frame {} is neither a JPEG nor a PNG image ({} bytes)",
                                (index, tf.strings.length(data)))
    check = tf.debugging.Assert(is_jpeg | is_png, [message])
    with tf.control_dependencies([check]):
        return tf.cond(is_jpeg, lambda: _decode_jpeg(data, target), lambda: _decode_png(data))


def _coefficients(in_size: tf.Tensor, out_size: int) -> tf.SparseTensor:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for the bilinear filter: the
    integer weights [out_size, in_size] (sparse: a few source pixels per output pixel)."""
    in_f = tf.cast(in_size, tf.float64)
    scale = in_f / out_size
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale  # the triangle filter's support, 1 source pixel, widened when shrinking
    taps = tf.cast(tf.math.ceil(support), tf.int32) * 2 + 1
    center = (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    first = tf.maximum(tf.floor(center - support + 0.5), 0.0)  # C's (int) cast, then clamped at 0
    last = tf.minimum(tf.floor(center + support + 0.5), in_f)
    source = first[:, None] + tf.cast(tf.range(taps), tf.float64)[None, :]  # [out, taps]
    weights = tf.maximum(1.0 - tf.abs((source - center[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    weights = tf.where(source < last[:, None], weights, 0.0)
    weights = tf.math.divide_no_nan(weights, tf.reduce_sum(weights, axis=1, keepdims=True))
    fixed = tf.floor(0.5 + weights * (1 << PRECISION_BITS))
    keep = fixed > 0
    rows = tf.broadcast_to(tf.range(out_size, dtype=tf.int64)[:, None], tf.shape(source, out_type=tf.int64))
    indices = tf.stack([tf.boolean_mask(rows, keep), tf.cast(tf.boolean_mask(source, keep), tf.int64)], axis=1)
    return tf.sparse.SparseTensor(indices, tf.boolean_mask(fixed, keep), [out_size, tf.cast(in_size, tf.int64)])


def _resample_rows(pixels: tf.Tensor, size: int) -> tf.Tensor:
    """One Pillow pass along axis 0: float64 [N, M, 3] holding uint8 values -> [size, M, 3]. Sums
    of integer products stay exact in float64; then Pillow's rounding and ``clip8``."""
    shape = tf.shape(pixels)
    total = tf.sparse.sparse_dense_matmul(_coefficients(shape[0], size), tf.reshape(pixels, [shape[0], -1]))
    rounded = tf.clip_by_value(tf.floor((total + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)), 0.0, 255.0)
    return tf.reshape(rounded, [size, shape[1], 3])


def resize(rgb: tf.Tensor, size: int) -> tf.Tensor:
    """``images.resize``: uint8 [H, W, 3] -> [size, size, 3], Pillow's bilinear to the bit:
    horizontal pass first, uint8 values in between (a side already at ``size`` maps to itself)."""
    columns = _resample_rows(tf.transpose(tf.cast(rgb, tf.float64), [1, 0, 2]), size)  # [size, H, 3]
    return tf.cast(_resample_rows(tf.transpose(columns, [1, 0, 2]), size), tf.uint8)


def prepare(data: tf.Tensor, index: tf.Tensor, size: int) -> tf.Tensor:
    """``images.prepare`` for one encoded frame: the backbone input uint8 [size, size, 3]."""
    return resize(decode(data, index, size), size)


def featurize(frames: tf.Tensor, backbone, size: int, batch_size: int = 32) -> tf.Tensor:
    """Encoded frames [T] -> backbone features [T, D], ``batch_size`` frames decoded and run at a time
    (as ingestion batches them), so memory holds one batch of pixels, not a video."""
    count = tf.size(frames)
    features = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)

    def body(start, features):
        stop = tf.minimum(start + batch_size, count)
        pixels = tf.map_fn(lambda x: prepare(x[0], x[1], size), (frames[start:stop], tf.range(start, stop)),
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
        batch = backbone(tf.cast(pixels, tf.float32), training=False)
        return stop, features.write(start // batch_size, batch)

    _, features = tf.while_loop(lambda start, _: start < count, body, (tf.constant(0), features))
    return features.concat()
