"""The data contract: record round trips, tf.data parsing, TFDV schema files."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import schemas
from laf import tfrecords
from schemas import names
from schemas.parsing import parse_image, parse_video
from schemas.records import ImageRecord, Segment, VideoRecord
from schemas.segment import AMBIGUOUS


def _video(i: int, laf: bool = True, segments=True) -> VideoRecord:
    rs = np.random.RandomState(i)
    t = 4 + i
    return VideoRecord(
        video_id=f"v{i}", label="Basketball:Slam dunk", label_index=1,
        features=rs.rand(t, 6).astype(np.float32), timestamps=np.arange(t, dtype=np.float32),
        fps=1.0, duration=float(t), source=f"/data/v{i}.mp4", split="train",
        segments=[Segment(1.0, 2.5, "Basketball:Slam dunk")] if segments else [],
        laf_scores=rs.rand(t).astype(np.float32) if laf else None)


def test_video_record_round_trip():
    v = _video(3)
    back = VideoRecord.parse(v.serialize())
    np.testing.assert_array_equal(back.features, v.features)
    np.testing.assert_array_equal(back.timestamps, v.timestamps)
    np.testing.assert_array_equal(back.laf_scores, v.laf_scores)
    assert (back.video_id, back.label, back.label_index, back.activity) == ("v3", v.label, 1, "Basketball")
    assert back.segments == v.segments and back.num_frames == 7 and back.ambiguous == []
    ambiguous = [Segment(0.5, 1.5, AMBIGUOUS), Segment(4.0, 6.0, AMBIGUOUS)]
    assert VideoRecord.parse(dataclasses.replace(v, ambiguous=ambiguous).serialize()).ambiguous == ambiguous
    assert VideoRecord.parse(_video(1, laf=False).serialize()).laf_scores is None
    from_taxonomy = dataclasses.replace(v, label="Dunk", activity="Basketball", segments=[])  # no "Activity:"
    assert VideoRecord.parse(from_taxonomy.serialize()).activity == "Basketball"


def test_a_segment_of_another_label_needs_its_index():
    """Its video's index was written for it: the TFMA metric and the oracle weights (by index) took
    the segment for the video's own action, the report (by name) for the other one."""
    v = _video(2)
    other = [Segment(1.0, 2.5, "Basketball:Slam dunk"), Segment(3.0, 4.0, "Basketball:Layup")]
    with pytest.raises(ValueError, match="a segment of 'Basketball:Layup' in a video of 'Basketball:Slam dunk' needs"):
        dataclasses.replace(v, segments=other).serialize()
    with pytest.raises(ValueError, match="2 segments but 1 segment label indices"):
        dataclasses.replace(v, segments=other, segment_label_indices=[1]).serialize()
    back = VideoRecord.parse(dataclasses.replace(v, segments=other, segment_label_indices=[1, 4]).serialize())
    assert back.segment_label_indices == [1, 4] and back.segments == other
    assert VideoRecord.parse(v.serialize()).segment_label_indices == [1]  # its own label: its own index


def test_per_step_lists_of_another_length_are_not_written():
    """Serving took 5 frames, domain transfer stopped at an assertion, the trainer failed in a reshape:
    a record whose timestamps or LAF scores are not one per frame was written without a word."""
    v = _video(1)
    with pytest.raises(ValueError, match="v1: 4 timestamps for 5 frames"):
        dataclasses.replace(v, timestamps=v.timestamps[:4]).serialize()
    with pytest.raises(ValueError, match="v1: 6 laf_scores for 5 frames"):
        dataclasses.replace(v, laf_scores=np.zeros(6, np.float32)).serialize()


def test_image_record_round_trip():
    img = ImageRecord("i1", "Tennis:Serve", 2, np.arange(5, dtype=np.float32), "a.jpg", "ff00")
    back = ImageRecord.parse(img.serialize())
    np.testing.assert_array_equal(back.features, img.features)
    assert (back.image_id, back.label, back.label_index, back.sha256) == ("i1", "Tennis:Serve", 2, "ff00")
    latin1 = b"/crawl/Tennis__Serve/caf\xe9.jpg".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    stored = ImageRecord("i2", "Tennis:Serve", 2, img.features, latin1, "ff01").to_proto()
    assert stored.features.feature[names.SOURCE].bytes_list.value == [b"/crawl/Tennis__Serve/caf\xe9.jpg"]
    assert ImageRecord.parse(stored.SerializeToString()).source == latin1


def test_tf_data_parsing_matches_python_side(tmp_path):
    path = str(tmp_path / "v.gz")
    vids = [_video(i) for i in range(3)]
    tfrecords.write(path, [v.serialize() for v in vids])
    parsed = [parse_video(s, feature_dim=6, with_laf=True) for s in tf.data.TFRecordDataset(tfrecords.files(path), compression_type="GZIP")]
    for v, p in zip(vids, parsed):
        np.testing.assert_allclose(p[names.FRAME_FEATURES].numpy(), v.features)
        np.testing.assert_allclose(p[names.LAF_SCORE].numpy(), v.laf_scores)
        assert int(p[names.NUM_FRAMES]) == v.num_frames
        np.testing.assert_allclose(p[names.GT_START].numpy(), [1.0])
    img = ImageRecord("i", "A:b", 0, np.ones(4, np.float32), "s", "h")
    out = parse_image(img.serialize(), feature_dim=4)
    np.testing.assert_array_equal(out[names.IMAGE_FEATURES].numpy(), np.ones(4))


def _anomalies(records, schema_path, sequence: bool, tmp_path):
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tfx_bsl.public import tfxio

    path = str(tmp_path / ("seq.gz" if sequence else "ex.gz"))
    tfrecords.write(path, records)
    kind = tfxio.TFSequenceExampleRecord if sequence else tfxio.TFExampleRecord
    stats_path = str(tmp_path / "stats")
    with beam.Pipeline() as p:
        _ = p | kind(path, telemetry_descriptors=["test"]).BeamSource() | tfdv.GenerateStatistics() \
            | tfdv.WriteStatisticsToBinaryFile(stats_path)
    result = tfdv.validate_statistics(tfdv.load_stats_binary(stats_path), tfdv.load_schema_text(schema_path))
    return dict(result.anomaly_info)


def test_tfdv_schema_accepts_contract_and_flags_violations(tmp_path):
    good = [_video(i, laf=i % 2 == 0, segments=i % 2 == 1).serialize() for i in range(4)]
    assert _anomalies(good, schemas.VIDEO_SCHEMA, True, tmp_path) == {}
    bad = _video(9).to_proto()
    del bad.context.feature[names.LABEL]
    found = _anomalies(good + [bad.SerializeToString()], schemas.VIDEO_SCHEMA, True, tmp_path)
    assert names.LABEL in found
    imgs = [ImageRecord(f"i{i}", "A:b", 0, np.ones(3, np.float32), "s", "h").serialize() for i in range(3)]
    assert _anomalies(imgs, schemas.IMAGE_SCHEMA, False, tmp_path) == {}


def test_the_schema_files_name_exactly_the_features_the_codec_writes():
    """The `.pbtxt` files and `schemas/names.py` are two spellings of one contract: a feature renamed in
    one alone made ExampleValidator flag every valid record, or check a feature nobody writes."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    def named(path: str) -> set:  # a SequenceExample's feature lists lie in TFDV's "##SEQUENCE##" struct
        with open(path) as f:
            features = text_format.Parse(f.read(), schema_pb2.Schema()).feature
        return {inner.name for feature in features for inner in
                (feature.struct_domain.feature if feature.name == "##SEQUENCE##" else [feature])}

    video = _video(1).to_proto()
    written = set(video.context.feature) | set(video.feature_lists.feature_list)
    assert named(schemas.VIDEO_SCHEMA) == written
    image = ImageRecord("i", "A:b", 0, np.ones(3, np.float32), "s", "h").to_proto()
    assert named(schemas.IMAGE_SCHEMA) == set(image.features.feature)
