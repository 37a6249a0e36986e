"""``localize_frames``: a real video's sampled frames, JPEG/PNG-encoded as a client without any
feature extractor would send them, through the pushed model's backbone-in-the-graph signature (called
directly and through TF Serving's REST conversion) answer as the product does: the same encoded
images featurized by ingestion's image code (``images.prepare`` + the backbone's ``feature_fn``),
then the ``localize`` signature on that record."""
import base64
import dataclasses
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from laf.ingest import images
from laf.ingest.backbones import feature_fn
from laf.ingest.media import Video
from laf.serve import assets, frames_tf, localize, rest
from schemas.records import VideoRecord
import tf_serving

FRAME_SIZE = 80  # > the backbone's 32: the graph must downscale (JPEG DCT ratio 2, then Pillow's bilinear)


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client_frames(served_model):
    """kick.mp4 sampled at the model's fps; every other frame cropped to 80x60 (another scale per
    axis, no DCT downscale), every third one a PNG."""
    settings = assets.load(served_model.pushed)
    samples = list(Video(served_model.videos[0], fps=settings.fps, size=FRAME_SIZE).samples())
    frames = [_encode(s.image[:, :60] if i % 2 else s.image, "PNG" if i % 3 == 2 else "JPEG")
              for i, s in enumerate(samples)]
    return frames, np.array([s.target for s in samples], np.float32)


@pytest.fixture(scope="module")
def pushed(served_model):
    return localize.load_model(served_model.pushed)


@pytest.fixture(scope="module")
def product(served_model, pushed, client_frames):
    """The product's answer: ingestion's image featurization of the same bytes, then ``localize``."""
    frames, timestamps = client_frames
    backbone = assets.load(served_model.pushed).backbone
    features = feature_fn(backbone)(np.stack([images.prepare(f, backbone.size) for f in frames]))
    record = VideoRecord("kick", localize.UNLABELLED, 0, features, timestamps, fps=2.0, duration=9.0)
    return localize.localize_outputs(pushed, [record.serialize()])


def _assert_same_answer(got: dict, want: dict, frames: int = 18) -> None:
    assert sorted(got) == sorted(want)
    assert want["count"][0] > 3 and got["num_frames"][0] == frames
    for name in ("probabilities", "actionness", "score"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)
    for name in ("timestamps", "num_frames", "count", "label", "start", "end"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_graph_preparation_is_the_products_to_the_bit(client_frames):
    """Decode and resize alone, also at a DCT ratio of 4, upscaling, and a PNG with alpha over white."""
    frames, _ = client_frames
    rgba = np.random.default_rng(0).integers(0, 256, (45, 70, 4)).astype(np.uint8)
    big = np.random.default_rng(1).integers(0, 256, (130, 150, 3)).astype(np.uint8)
    for data in frames[:4] + [_encode(rgba, "PNG"), _encode(big, "JPEG"), _encode(big[:20, :25], "JPEG")]:
        got = frames_tf.prepare(tf.constant(data), tf.constant(0), 32).numpy()
        np.testing.assert_array_equal(got, images.prepare(data, 32))


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_a_png_of_few_bits_per_pixel_is_prepared_as_the_product(bits):
    """Asked for 4 channels, TensorFlow's PNG decoder gives an opaque 1/2/4-bit palette PNG (and a 1-bit
    grey one) an alpha of 1, 3 or 15 of 255: its frames came out nearly white. With a transparent colour
    (tRNS) it is composited over white, as the product does. (Pillow writes grey at 2 or 4 bits only as 8.)"""
    rgb = np.zeros((40, 48, 3), np.uint8)
    rgb[:, :24], rgb[:, 24:] = (200, 30, 30), (30, 30, 200)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    grey = Image.fromarray(np.where(np.arange(48) < 24, 0, 255).astype(np.uint8)[None].repeat(40, 0))
    cases = [(palette, {"bits": bits}), (palette, {"bits": bits, "transparency": 0})]
    for picture, options in cases + ([(grey.convert("1"), {})] if bits == 1 else []):
        buffer = io.BytesIO()
        picture.save(buffer, "PNG", **options)
        data = buffer.getvalue()
        assert data[24] == bits  # the file's bit depth
        np.testing.assert_array_equal(frames_tf.prepare(tf.constant(data), tf.constant(0), 16).numpy(),
                                      images.prepare(data, 16))


def test_frames_in_answer_as_the_product(pushed, client_frames, product):
    frames, timestamps = client_frames
    got = tf_serving.call(pushed, "localize_frames", {"frames": frames, "timestamps": timestamps})
    _assert_same_answer(got, product)


def test_frames_sampled_as_ingestion_does_answer_as_laf_localize(served_model, pushed):
    """Frames at the input size from ingestion's own sampler, sent losslessly (PNG): no resize, so
    the answer is ``laf localize --model`` on the video file (ingestion's records -> ``localize``),
    the records' duration left out as frames carry none (the last frame then lasts the mean interval)."""
    settings = assets.load(served_model.pushed)
    video = served_model.videos[1]
    samples = list(Video(video, fps=settings.fps, size=settings.backbone.size).samples())
    got = tf_serving.call(pushed, "localize_frames", {"frames": [_encode(s.image, "PNG") for s in samples],
                         "timestamps": np.array([s.target for s in samples], np.float32)})
    records = [VideoRecord.parse(e) for e in localize.featurize([video], settings)]
    unknown = [dataclasses.replace(r, duration=0.0).serialize() for r in records]
    _assert_same_answer(got, localize.localize_outputs(pushed, unknown), frames=13)


def test_rest_body_answers_as_the_direct_call(pushed, client_frames, product):
    frames, timestamps = client_frames
    body = json.loads(json.dumps(rest.request_body("localize_frames", {"frames": frames, "timestamps": timestamps})))
    assert body["inputs"]["frames"] == [{"b64": base64.b64encode(f).decode()} for f in frames]
    served = rest.parse_response(json.loads(json.dumps(tf_serving.serve(pushed, body))))
    _assert_same_answer(served, product)


def test_bad_frames_are_named_errors(pushed, client_frames):
    frames, timestamps = client_frames
    broken = frames[:1] + [b"<html>not an image</html>"] + frames[2:]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"frame 1 is neither a JPEG nor a PNG image \(25 bytes\)"):
        tf_serving.call(pushed, "localize_frames", {"frames": broken, "timestamps": timestamps})
    with pytest.raises(tf.errors.InvalidArgumentError, match="one timestamp per frame"):
        tf_serving.call(pushed, "localize_frames", {"frames": frames, "timestamps": timestamps[:-1]})
    backwards = list(timestamps)
    backwards[1], backwards[2] = backwards[2], backwards[1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="timestamps must not decrease"):
        tf_serving.call(pushed, "localize_frames", {"frames": frames, "timestamps": backwards})
    with pytest.raises(tf.errors.InvalidArgumentError, match="timestamps must be finite seconds"):
        tf_serving.call(pushed, "localize_frames", {"frames": frames, "timestamps": [float("nan")] * len(frames)})


def test_only_an_export_given_the_backbone_has_it(served_model, pushed):
    assert "localize_frames" in pushed.signatures
    assert "localize_frames" not in localize.load_model(served_model.model_dir).signatures
