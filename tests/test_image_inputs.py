"""laf.ingest.image_inputs: listing web-image folders and manifests on the driver, before any work."""
import os

import pytest

from laf.ingest import image_inputs
from laf.errors import UserError
from schemas.vocabulary import Vocabulary


def test_headerless_and_jsonl_manifests(tmp_path):
    (tmp_path / "a.csv").write_text("Diving:Platform,x.jpg\nDiving:Springboard,http://127.0.0.1/y.jpg\n")
    (tmp_path / "a.jsonl").write_text('{"label": "Diving:Platform", "url": "http://127.0.0.1/y.jpg"}\n')
    assert image_inputs.list_inputs(str(tmp_path / "a.csv")) == [
        image_inputs.ImageItem("Diving:Platform", f"{tmp_path}/x.jpg"),
        image_inputs.ImageItem("Diving:Springboard", "http://127.0.0.1/y.jpg")]
    assert image_inputs.list_inputs(str(tmp_path / "a.jsonl")) == [
        image_inputs.ImageItem("Diving:Platform", "http://127.0.0.1/y.jpg")]


def test_a_row_under_the_home_folder_is_read_there_as_in_the_config(tmp_path, monkeypatch):
    """``~/crawl/x.jpg`` was joined to the manifest's folder (``<folder>/~/crawl/x.jpg``): not found."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "a.csv").write_text("Diving:Platform,~/crawl/x.jpg\n")
    assert image_inputs.list_inputs(str(tmp_path / "a.csv")) == [
        image_inputs.ImageItem("Diving:Platform", f"{tmp_path}/home/crawl/x.jpg")]


def test_a_manifest_s_type_is_read_from_its_extension_in_any_case(tmp_path):
    """"list.JSONL" was read as CSV: label '{"label": "Diving:Platform"', and every image "not found"."""
    (tmp_path / "list.JSONL").write_text('{"label": "Diving:Platform", "url": "http://127.0.0.1/y.jpg"}\n')
    (tmp_path / "list.TSV").write_text("Diving:Platform\tx.jpg\n")
    assert image_inputs.list_inputs(str(tmp_path / "list.JSONL")) == [
        image_inputs.ImageItem("Diving:Platform", "http://127.0.0.1/y.jpg")]
    assert image_inputs.list_inputs(str(tmp_path / "list.TSV")) == [
        image_inputs.ImageItem("Diving:Platform", f"{tmp_path}/x.jpg")]


def test_a_relative_folder_with_a_colon_lists_paths_not_uris(tmp_path, monkeypatch):
    """`laf extract images --root crawl-2024-05-01T10:00:00` (or a manifest there): its images' sources
    started like a URI scheme ("crawl-2024-05-01t10:"), and ingestion refused every one. An absolute
    root stays as written (its records' sources and the run's cache key unchanged)."""
    from laf.ingest import images

    (tmp_path / "crawl-2024-05-01T10:00:00" / "Tennis:Serve").mkdir(parents=True)
    (tmp_path / "crawl-2024-05-01T10:00:00" / "Tennis:Serve" / "a.jpg").write_bytes(b"")
    (tmp_path / "lists-10:00").mkdir()
    (tmp_path / "lists-10:00" / "list.csv").write_text("Tennis:Serve,a.jpg\n")
    monkeypatch.chdir(tmp_path)
    expected = image_inputs.ImageItem("Tennis:Serve", f"{tmp_path}/crawl-2024-05-01T10:00:00/Tennis:Serve/a.jpg")
    assert image_inputs.list_inputs("crawl-2024-05-01T10:00:00") == [expected]
    [listed] = image_inputs.list_inputs("lists-10:00/list.csv")  # a manifest in such a folder too
    assert listed == image_inputs.ImageItem("Tennis:Serve", f"{tmp_path}/lists-10:00/a.jpg")
    for item in (expected, listed):
        images.check_source(item.source)  # a path, not a refused scheme
    assert image_inputs.list_inputs(f"{tmp_path}//crawl-2024-05-01T10:00:00")[0].source.startswith(f"{tmp_path}//")


def test_a_manifest_at_the_root_names_images_there(tmp_path, monkeypatch):
    """A manifest mounted at /list.csv (a container): its folder is "/", not the working directory."""
    from laf import files

    monkeypatch.setattr(files, "read_text", lambda path, what: "Tennis:Serve,a.jpg\n")
    monkeypatch.chdir(tmp_path)
    assert [i.source for i in image_inputs.read_manifest("/list.csv")] == ["/a.jpg"]
    assert [i.source for i in image_inputs.read_manifest("file:///list.csv")] == ["/a.jpg"]


def test_relative_paths_with_a_colon_are_paths_and_schemes_stay_uris(tmp_path):
    """A label folder "Tennis:Serve/a.jpg" is relative to the manifest; "data:..." and "file:..." stay
    as written, for ingestion to refuse their scheme."""
    (tmp_path / "m.csv").write_text('label,image\nTennis:Serve,Tennis:Serve/a.jpg\nTennis:Serve,img:1.png\n'
                                    'Tennis:Serve,"data:image/png;base64,AAAA"\nTennis:Serve,FILE:/etc/passwd\n')
    assert [i.source for i in image_inputs.list_inputs(str(tmp_path / "m.csv"))] == [
        f"{tmp_path}/Tennis:Serve/a.jpg", f"{tmp_path}/img:1.png", "data:image/png;base64,AAAA", "FILE:/etc/passwd"]
    (tmp_path / "Data:Entry").mkdir()  # a label folder named like a bare scheme: a path where the file is there
    (tmp_path / "Data:Entry" / "a.jpg").write_bytes(b"")
    (tmp_path / "m.csv").write_text("label,image\nData:Entry,Data:Entry/a.jpg\nData:Entry,Data:Entry/b.jpg\n")
    assert [i.source for i in image_inputs.list_inputs(str(tmp_path / "m.csv"))] == [
        f"{tmp_path}/Data:Entry/a.jpg", "Data:Entry/b.jpg"]


def test_a_headerless_manifest_written_path_first_is_named(tmp_path):
    (tmp_path / "m.csv").write_text("http://example.com/a.jpg,Tennis:Serve\n")
    with pytest.raises(UserError, match="m.csv:1: label 'http://example.com/a.jpg' is a URL: are the columns the"
                                        " other way round"):
        image_inputs.list_inputs(str(tmp_path / "m.csv"))


def test_a_header_after_blank_lines_is_still_the_header(tmp_path):
    (tmp_path / "a.csv").write_text("\n\nlabel,image\nDiving:Platform,x.jpg\n")
    assert image_inputs.list_inputs(str(tmp_path / "a.csv")) == [
        image_inputs.ImageItem("Diving:Platform", f"{tmp_path}/x.jpg")]


@pytest.mark.parametrize("text,words", [
    ("label,image\nDiving:Platform,x\x00.jpg\n", "a.csv:2: not a readable CSV row"),
    ("label,image,label\nDiving:Platform,x.jpg,Diving:Pike\n", "a.csv:1: column(s) ['label'] appear more than once"),
])
def test_unreadable_image_manifests_name_file_and_line(tmp_path, text, words):
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(UserError) as info:
        image_inputs.list_inputs(str(tmp_path / "a.csv"))
    assert words in str(info.value)


def test_empty_label_folder_is_a_user_error(tmp_path):
    (tmp_path / "Diving__Platform").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        image_inputs.list_inputs(str(tmp_path))


def test_folder_names_map_to_activity_action_labels():
    vocab = Vocabulary.build(["Basketball:Slam dunk", "Diving:Platform", "Tennis:Serve", "Volleyball:Serve"])
    assert image_inputs.folder_label("Basketball__Slam dunk") == "Basketball:Slam dunk"
    assert image_inputs.folder_label("Diving:Platform") == "Diving:Platform"
    assert image_inputs.folder_label("Slam dunk", vocab) == "Basketball:Slam dunk"  # action name alone
    assert image_inputs.folder_label("Serve", vocab) == "Serve"                     # ambiguous: left as is
    assert image_inputs.folder_label("Long jump") == "Long jump"


def test_a_label_folder_named_in_latin1_is_a_user_error_before_any_work(tmp_path):
    """Its label would be text with a surrogate escape, which Beam's coder refused mid-run (a file
    name in Latin-1 is fine: it travels as bytes, ``laf.ingest.image_ingest``)."""
    folder = os.path.join(os.fsencode(str(tmp_path)), b"Pool__Caf\xe9")
    try:
        os.makedirs(folder)
    except OSError as e:
        pytest.skip(f"this file system refuses a name that is not UTF-8: {e}")
    with open(os.path.join(folder, b"a.jpg"), "wb") as f:
        f.write(b"jpeg")
    with pytest.raises(UserError, match=r"Pool__Caf\\xe9/: the label folder's name is not UTF-8 text"):
        image_inputs.list_folder(str(tmp_path))
