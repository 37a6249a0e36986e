"""laf.ingest.image_ingest and the ImageIngest component: real files, real Beam, real LocalDagRunner."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List

import numpy as np
import pytest

from laf import tfrecords
from laf.errors import UserError
from laf.ingest import image_ingest, images, rejects, sorted_files
from laf.ingest.backbones import BackboneConfig, feature_fn
from schemas.records import ImageRecord
from schemas.vocabulary import Vocabulary
from test_images import Server, image_routes, samples
from file_tree import file_bytes, latin1_file

BACKBONE = BackboneConfig(input_size=96)
BAD = {"html_as_jpg": "decode", "bomb_png": "decode", "truncated_jpeg": "decode", "empty": "read"}


def read_output(output: str):
    records = [ImageRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(output, "train"))]
    with open(os.path.join(output, rejects.REJECTED_FILE)) as f:
        rejected = [json.loads(line) for line in f]
    with open(os.path.join(output, rejects.SUMMARY_FILE)) as f:
        summary = json.load(f)
    return records, rejected, summary, Vocabulary.load(output)


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture(scope="module")
def media() -> Dict[str, bytes]:
    return samples()


@pytest.fixture(scope="module")
def tree(tmp_path_factory, media):
    """Every sample file under two label folders (by folder-name convention), named .jpg
    whatever they hold, plus duplicates, a nested folder, a dot-file and a loose file."""
    root = str(tmp_path_factory.mktemp("tree"))
    folders = ["Basketball__Slam dunk", "Diving:Platform"]
    for i, (name, data) in enumerate(sorted(media.items())):
        write(f"{root}/{folders[i % 2]}/{name}.jpg", data)
    write(f"{root}/Diving:Platform/again/copy.jpg", media["jpeg"])        # duplicate, same label
    write(f"{root}/Basketball__Slam dunk/copy-of-webp.png", media["webp"])  # duplicate (maybe other label)
    write(f"{root}/Basketball__Slam dunk/.DS_Store", b"\0\1junk")          # skipped
    write(f"{root}/loose.jpg", media["jpeg"])                               # no label folder
    return root


@pytest.fixture(scope="module")
def folder_run(tree, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("out"))
    summary = image_ingest.extract_images(tree, output, BACKBONE, batch_size=4, threads=3)
    return summary, output


def test_folder_tree_books_balance_and_every_bad_file_is_rejected_with_its_reason(folder_run, media, tree):
    summary, output = folder_run
    records, rejected, written, vocab = read_output(output)
    inputs = len(media) + 3  # two copies and the loose file; the dot-file is not an input
    assert summary == written == {"inputs": inputs, "accepted": len(media) - len(BAD),
                                  "rejected": len(BAD) + 1, "duplicates": 2}
    assert len(records) == summary["accepted"]
    stages = {os.path.basename(r["source"]).split(".")[0]: r["stage"] for r in rejected}
    assert stages == {**BAD, "loose": "validate"}
    assert all(r["reason"] for r in rejected)
    assert {r["label"] for r in rejected if r["stage"] == "validate"} == {""}  # the loose file: in no label folder
    assert all(r["label"] == folder_of(tree, r["source"]) != "" for r in rejected if r["stage"] != "validate")
    assert vocab.labels == ["Basketball:Slam dunk", "Diving:Platform"]
    assert vocab.activities == {"Basketball": ["Basketball:Slam dunk"], "Diving": ["Diving:Platform"]}


def folder_of(tree: str, source: str) -> str:
    return source[len(tree) + 1:].split("/")[0].replace("__", ":")


def test_records_hold_the_backbone_features_of_the_decoded_file(folder_run, tree):
    _, output = folder_run
    records, _, _, vocab = read_output(output)
    assert len({r.image_id for r in records}) == len({r.sha256 for r in records}) == len(records)
    run = feature_fn(BACKBONE)
    by_input = {}
    for r in records:
        with open(r.source, "rb") as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == r.sha256
        assert vocab.labels[r.label_index] == r.label == folder_of(tree, r.source)
        pixels = images.prepare(data, BACKBONE.size)
        by_input.setdefault(pixels.tobytes(), r.features)
        expected = run(pixels[None])[0]
        assert r.features.shape == expected.shape and np.isfinite(r.features).all()
        np.testing.assert_allclose(r.features, expected, rtol=1e-3, atol=1e-4)
    vectors = list(by_input.values())  # different pictures (lossless copies are one picture) differ
    assert len(vectors) > 1 and not any(np.allclose(a, b, rtol=1e-3, atol=0) for i, a in enumerate(vectors)
                                        for b in vectors[i + 1:])


def test_duplicates_keep_the_copy_with_the_smallest_label_and_path(folder_run, tree):
    summary, output = folder_run
    records, _, _, _ = read_output(output)
    copies: Dict[str, List] = {}
    for folder, _, files in os.walk(tree):
        for name in files:
            path = os.path.join(folder, name)
            if folder != tree and not name.startswith("."):
                with open(path, "rb") as f:
                    copies.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append((folder_of(tree, path), path))
    for r in records:
        assert (r.label, r.source) == min(copies[r.sha256])
    assert sum(len(copies[r.sha256]) - 1 for r in records) == summary["duplicates"]
    with open(os.path.join(output, sorted_files.DUPLICATES_FILE)) as f:  # each dropped copy names the one kept
        listed = [json.loads(line) for line in f]
    kept = {r.sha256: (r.label, r.source) for r in records}
    assert len(listed) == summary["duplicates"] and [d["source"] for d in listed] == sorted(d["source"] for d in listed)
    for d in listed:
        assert (d["kept_label"], d["kept"]) == kept[d["sha256"]] and (d["label"], d["source"]) in copies[d["sha256"]]
    assert any(d["label"] != d["kept_label"] for d in listed)  # the webp copy under the other label is named




def test_same_inputs_give_identical_output_bytes_sorted_by_image_id(folder_run, tree, tmp_path):
    _, first = folder_run
    again = str(tmp_path / "again")
    image_ingest.extract_images(tree, again, BACKBONE, batch_size=3, threads=2)
    assert file_bytes(again) == file_bytes(first)
    ids = [r.image_id for r in read_output(first)[0]]
    assert ids == sorted(ids)


def test_a_file_name_in_latin1_is_ingested_and_its_copy_listed(tmp_path, media):
    """``café.jpg`` named in Latin-1 (an old crawl's): Beam encodes str as strict UTF-8, and the
    name's surrogate escape stopped the whole run (UnicodeEncodeError in the grouping by content)."""
    folder, other = (str(tmp_path / "in" / name) for name in ("Basketball__Dunk", "Diving__Platform"))
    write(f"{folder}/plain.jpg", media["png_alpha"])
    os.makedirs(other)
    cafe = latin1_file(folder, media["jpeg"])
    copy = latin1_file(other, media["jpeg"])  # the same bytes under another label
    output = str(tmp_path / "out")
    summary = image_ingest.extract_images(str(tmp_path / "in"), output, BACKBONE, batch_size=2, threads=1)
    records, rejected, _, _ = read_output(output)
    assert summary == {"inputs": 3, "accepted": 2, "rejected": 0, "duplicates": 1} and not rejected
    assert cafe in {r.source for r in records}  # the name as the OS lists it, opened again as is
    with open(os.path.join(output, sorted_files.DUPLICATES_FILE)) as f:
        listed = [json.loads(line) for line in f]
    assert [(d["source"], d["kept"]) for d in listed] == [(copy, cafe)]


def test_a_backbone_that_gives_nan_rejects_the_image_not_the_run(tmp_path, media):
    """As for videos: NaN features passed the schema gate and stopped the run in domain transfer."""
    from video_fixtures import nan_weights

    write(str(tmp_path / "in" / "Diving__Platform" / "a.jpg"), media["jpeg"])
    broken = nan_weights(BACKBONE, str(tmp_path / "nan.weights.h5"))
    output = str(tmp_path / "out")
    summary = image_ingest.extract_images(str(tmp_path / "in"), output, BackboneConfig(input_size=96, weights=broken))
    records, rejected, _, _ = read_output(output)
    assert summary == {"inputs": 1, "accepted": 0, "rejected": 1, "duplicates": 0} and not records
    assert [(r["stage"], r["reason"]) for r in rejected] == [("features", "the backbone gave NaN or infinite features")]


def test_manifest_with_urls_and_an_existing_vocabulary(tmp_path, media):
    vocab = Vocabulary.build(["Basketball:Slam dunk", "Basketball:Layup", "Diving:Platform"])
    local = write(str(tmp_path / "imgs" / "gray.jpg"), media["gray_jpeg"])
    with Server(image_routes(media["jpeg"])) as server:
        rows = [
            ("Basketball:Slam dunk", server.url("/ok.jpg")),
            ("Basketball:Slam dunk", server.url("/octet")),        # same bytes: a duplicate
            ("Basketball:Layup", server.url("/page.jpg")),          # text/html
            ("Basketball:Layup", server.url("/missing.jpg")),       # 404
            ("Basketball:Layup", server.url("/to-file")),           # redirect to file:
            ("Diving:Platform", "imgs/gray.jpg"),                    # relative to the manifest
            ("Diving:Platform", "file://" + local),                  # scheme not allowed
            ("Tennis:Serve", local),                                 # not in the vocabulary
            ("Basketball:Layup", server.url("/trickle-body.jpg")),  # 1 byte per 0.25 s: cut at the deadline
        ]
        manifest = tmp_path / "images.csv"
        manifest.write_text("label,image\n" + "".join(f"{label},{src}\n" for label, src in rows))
        output = str(tmp_path / "out")
        summary = image_ingest.extract_images(str(manifest), output, BACKBONE, vocabulary=vocab,
                                              batch_size=2, timeout=2.0, deadline=1.5, retries=1, backoff=0.01,
                                              allow_private_addresses=True)  # the test server is local
    records, rejected, _, written_vocab = read_output(output)
    assert summary == {"inputs": 9, "accepted": 2, "rejected": 6, "duplicates": 1}
    assert written_vocab == vocab
    assert {(r.label, r.label_index) for r in records} == {
        ("Basketball:Slam dunk", vocab.index("Basketball:Slam dunk")), ("Diving:Platform", vocab.index("Diving:Platform"))}
    assert sorted(r["stage"] for r in rejected) == ["fetch", "fetch", "fetch", "fetch", "validate", "validate"]
    reasons = " | ".join(r["reason"] for r in rejected)
    for words in ("content-type 'text/html'", "HTTP 404", "not allowed", "scheme 'file'", "'Tennis:Serve' is not in",
                  "took longer than the deadline of 1.5 s"):
        assert words in reasons


def test_an_outage_fails_the_run_instead_of_caching_every_download_as_rejected(tmp_path, media, caplog):
    """Offline, or with a proxy down, every download failed and was kept as a rejection, which a rerun
    reused from cache: the actions' images stayed lost. Half of the downloads or more without an answer
    fail the run; fewer are rejected with a warning, each line marked unreachable."""
    busy = lambda _: (503, {}, b"busy")  # noqa: E731
    with Server({**image_routes(media["jpeg"]), "/busy.jpg": busy, "/busy.jpg?again": busy}) as server:
        def ingest(paths, output):
            manifest = tmp_path / f"{output}.csv"
            manifest.write_text("label,image\n" + "".join(f"Diving:Platform,{server.url(p)}\n" for p in paths))
            return image_ingest.extract_images(str(manifest), str(tmp_path / output), BACKBONE, batch_size=2,
                                               timeout=1.0, retries=1, backoff=0.01, allow_private_addresses=True)

        with pytest.raises(UserError, match=r"^2 of 3 image downloads got no answer .*HTTP 503 .*rerun once they"):
            ingest(["/busy.jpg", "/ok.jpg", "/busy.jpg?again"], "outage")
        summary = ingest(["/busy.jpg", "/ok.jpg", "/missing.jpg"], "one_busy")
    assert summary == {"inputs": 3, "accepted": 1, "rejected": 2, "duplicates": 0}
    rejected = {r["reason"].split()[1]: r["unreachable"] for r in read_output(str(tmp_path / "one_busy"))[1]}
    assert rejected == {"503": True, "404": False}
    assert "1 of 3 image downloads got no answer" in caplog.text


def test_loopback_urls_are_rejected_unless_the_command_allows_them(tmp_path, media, capsys):
    from laf import cli

    with Server(image_routes(media["jpeg"])) as server:
        manifest = tmp_path / "images.csv"
        manifest.write_text(f"label,url\nDiving:Platform,{server.url('/ok.jpg')}\n")
        base = ["extract", "images", "--root", str(manifest), "--input-size", str(BACKBONE.size),
                "--weights", "none"]
        assert cli.main(base + ["--output", str(tmp_path / "default")]) == 2  # its one image rejected
        assert cli.main(base + ["--output", str(tmp_path / "mirror"), "--allow-private-addresses"]) == 0
    capsys.readouterr()
    _, rejected, summary, _ = read_output(str(tmp_path / "default"))
    assert summary["rejected"] == 1 and rejected[0]["stage"] == "fetch"
    assert "127.0.0.1, a loopback address: refused" in rejected[0]["reason"]
    assert read_output(str(tmp_path / "mirror"))[2]["accepted"] == 1


@pytest.mark.parametrize("text, words", [
    ("label,url\nA:b,\n", "images.csv:2: empty image path"),
    ("label,url\n,http://127.0.0.1/x.jpg\n", "images.csv:2: empty label"),
    ("name,url\nA:b,x.jpg\n", "images.csv:1: need a 'label' column"),
    ("label,url\nA:b,x.jpg,extra\n", "images.csv:2: 3 fields"),
])
def test_manifest_mistakes_fail_before_any_work_naming_file_and_line(tmp_path, text, words):
    manifest = tmp_path / "images.csv"
    manifest.write_text(text)
    with pytest.raises(UserError, match=words):
        image_ingest.extract_images(str(manifest), str(tmp_path / "out"), BACKBONE)
    assert not (tmp_path / "out").exists()


def test_action_names_alone_are_their_own_activities_and_said_so(tmp_path, media, caplog):
    write(str(tmp_path / "tree" / "Slam dunk" / "a.jpg"), media["jpeg"])
    with caplog.at_level("WARNING"):
        summary = image_ingest.extract_images(str(tmp_path / "tree"), str(tmp_path / "out"), BACKBONE)
    assert summary["accepted"] == 1
    assert Vocabulary.load(str(tmp_path / "out")).labels == ["Slam dunk"]
    assert "1 label(s) without an activity, each its own activity: Slam dunk (name the folders" in caplog.text


def test_unknown_option_is_a_user_error(tree, tmp_path):
    with pytest.raises(UserError, match="max_pixel"):
        image_ingest.extract_images(tree, str(tmp_path), BACKBONE, max_pixel=10)


def test_component_runs_in_a_local_dag_with_the_video_vocabulary(tmp_path, media):
    from tfx import v1 as tfx

    from components.artifacts import LabelVocabulary
    from components.image_ingest.component import ImageIngest

    tree = str(tmp_path / "tree")
    for name in ("jpeg", "cmyk_jpeg", "webp"):
        write(f"{tree}/Platform/{name}.jpg", media[name])  # action name alone: mapped by the vocabulary
    write(f"{tree}/Basketball__Slam dunk/a.jpg", media["png_alpha"])
    vocab_dir = tmp_path / "vocab"
    vocab_dir.mkdir()
    Vocabulary.build(["Diving:Platform", "Diving:Springboard"]).save(str(vocab_dir))
    importer = tfx.dsl.Importer(source_uri=str(vocab_dir), artifact_type=LabelVocabulary).with_id("vocab")
    ingest = ImageIngest(root=tree, vocabulary=importer.outputs["result"], input_size=BACKBONE.size,
                         batch_size=8, options={"threads": 2})
    metadata = str(tmp_path / "metadata.sqlite")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="image-ingest-test", pipeline_root=str(tmp_path / "root"), components=[importer, ingest],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata)))

    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata
    store = metadata_store.MetadataStore(config)
    [examples] = store.get_artifacts_by_type("Examples")
    props = {k: v.int_value for k, v in examples.custom_properties.items() if v.HasField("int_value")}
    records, rejected, summary, written_vocab = read_output(examples.uri)
    assert {k: props[k] for k in summary} == summary
    assert json.loads(examples.properties["split_names"].string_value) == ["train"]
    assert written_vocab.labels == ["Diving:Platform", "Diving:Springboard"]
    assert summary == {"inputs": 4, "accepted": 3, "rejected": 1, "duplicates": 0}
    assert {(r.label, r.label_index) for r in records} == {("Diving:Platform", 0)}
    assert [r["reason"] for r in rejected] == ["label 'Basketball:Slam dunk' is not in the label vocabulary"]
