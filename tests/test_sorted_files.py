"""laf.ingest.sorted_files: the same records in any arrival order give the same file bytes."""
import gzip
import json
import os

import apache_beam as beam

from laf import files, tfrecords
from laf.ingest import rejects, sorted_files
from file_tree import file_bytes

RECORDS = [("Split-train", f"video{i:02d}", f"record {i}".encode()) for i in (3, 1, 2, 0)]
REJECTED = [(sorted_files.REJECTED, line, line) for line in ('{"source": "b"}', '{"source": "a"}')]


def _write(elements, output: str) -> None:
    sorted_files.prepare(output, ("Split-train", "Split-eval"))
    with beam.Pipeline() as p:
        sorted_files.write(p | beam.Create(elements), output)
    sorted_files.complete(output, ("Split-train", "Split-eval"))


def test_a_second_run_into_the_same_folder_keeps_nothing_of_the_first(tmp_path):
    output = str(tmp_path / "out")
    _write(RECORDS + REJECTED + [("Split-eval", "video09", b"record 9")], output)
    _write([(split, key, data) for split, key, data in RECORDS if key != "video03"], output)
    assert list(tfrecords.read(os.path.join(output, "Split-eval"))) == []
    assert list(tfrecords.read(os.path.join(output, "Split-train"))) == [b"record 0", b"record 1", b"record 2"]
    assert file_bytes(output)[rejects.REJECTED_FILE] == b""
    rejects.write_summary(output, rejects.summary(3, 3, 0))
    sorted_files.prepare(output, ("Split-train", "Split-eval"))  # a third run, which will fail halfway
    assert not os.path.exists(os.path.join(output, rejects.SUMMARY_FILE))  # no summary of the second one is left


def test_any_arrival_order_gives_the_same_bytes_sorted_by_key(tmp_path):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    _write(RECORDS + REJECTED, first)
    _write(list(reversed(REJECTED + RECORDS)), second)
    files = file_bytes(first)
    assert files == file_bytes(second)
    assert sorted(files) == ["Split-eval/data_tfrecord-00000-of-00001.gz",
                             "Split-train/data_tfrecord-00000-of-00001.gz", sorted_files.DUPLICATES_FILE,
                             rejects.REJECTED_FILE]
    assert files[sorted_files.DUPLICATES_FILE] == b""  # none arrived: an empty list, not a missing file
    assert list(tfrecords.read(os.path.join(first, "Split-train"))) == [b"record 0", b"record 1", b"record 2",
                                                                        b"record 3"]
    assert list(tfrecords.read(os.path.join(first, "Split-eval"))) == []
    assert files[rejects.REJECTED_FILE] == b'{"source": "a"}\n{"source": "b"}\n'


def test_gzip_headers_hold_no_time_and_no_name(tmp_path):
    output = str(tmp_path / "out")
    _write(RECORDS, output)
    for name in ("Split-train", "Split-eval"):
        data = file_bytes(output)[f"{name}/data_tfrecord-00000-of-00001.gz"]
        assert data[:2] == b"\x1f\x8b" and gzip.decompress(data) is not None
        flags, mtime = data[3], int.from_bytes(data[4:8], "little")
        assert flags & 0x08 == 0 and mtime == 0  # FNAME unset, MTIME 0
    assert file_bytes(output)[rejects.REJECTED_FILE] == b""


def test_a_latin1_name_has_a_spread_key_and_a_key_beam_can_encode():
    """A video id or duplicate from a file named in Latin-1 (a surrogate escape in the str): strict
    UTF-8, as ``spread_key`` and Beam's str coder used, raised and stopped the run."""
    name = b"/crawl/caf\xe9.mp4".decode("utf-8", "surrogateescape")
    assert sorted_files.spread_key(name) != sorted_files.spread_key("/crawl/cafe.mp4")
    _, key, line = sorted_files.duplicate(name, name, "A:b", "/crawl/x.mp4", "A:b")
    assert key == "/crawl/caf\\xe9.mp4" and key.encode("utf-8")
    assert json.loads(line)["source"] == name
    assert files.wire_text("/crawl/café.mp4") == "/crawl/café.mp4"  # UTF-8 names unchanged


def test_an_output_folder_named_with_glob_characters_is_counted_and_read(tmp_path):
    """``laf extract --output 'feats[v2]'``: the counts were globbed, so every one was 0 and the
    summary's check stopped the run after all the work ("ingestion lost items")."""
    output = str(tmp_path / "feats[v2]")
    sorted_files.prepare(output, ("Split-train", "Split-eval"))
    with beam.Pipeline() as p:
        sorted_files.write(p | beam.Create(RECORDS + REJECTED), output)
    counts = sorted_files.complete(output, ("Split-train", "Split-eval"))
    assert counts["Split-train"] == 4 and counts["Split-eval"] == 0 and counts[sorted_files.REJECTED] == 2
    assert list(tfrecords.read(os.path.join(output, "Split-train"))) == [f"record {i}".encode() for i in range(4)]
