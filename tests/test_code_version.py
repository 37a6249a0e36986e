"""pipeline.code_version: the code each stage runs, by content, in its cache key."""
from pipeline import code_version as cv


def _tree(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_the_code_the_components_run_is_in_the_cache_key(tmp_path):
    """After an upgrade of the ingestion, transfer, trainer or metric code a rerun must not reuse the
    old outputs; an edit of the CLI or the report alone keeps them."""
    for path in ("laf/transfer/domain_transfer.py", "laf/commands/run.py", "schemas/video.pbtxt", "trainer/x.py",
                 "requirements.lock", "laf/report_table.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1")
    first = cv.code_version(str(tmp_path))
    assert cv.code_version(str(tmp_path)) == first
    (tmp_path / "laf" / "commands" / "run.py").write_text("v2")
    (tmp_path / "laf" / ".#x.py").symlink_to("nowhere")  # an editor's lock file while a buffer is unsaved
    assert cv.code_version(str(tmp_path)) == first
    for path in ("laf/transfer/domain_transfer.py", "schemas/video.pbtxt", "trainer/x.py", "requirements.lock",
                 "laf/report_table.py"):
        (tmp_path / path).write_text("v2")
        assert cv.code_version(str(tmp_path)) != first, path
        (tmp_path / path).write_text("v1")
    assert cv.code_version() == cv.code_version()  # this checkout's, as create_pipeline takes it


def test_ingestion_keys_on_the_code_it_imports_only(tmp_path):
    """A trainer upgrade must not decode and embed every video again; anything ingestion imports
    (absolute, relative, inside a function, a package's ``__init__``) must."""
    _tree(tmp_path, {
        "components/__init__.py": "",
        "components/ingest/component.py": "from laf.ingest import media\nfrom . import helper\n",
        "components/ingest/__init__.py": "",
        "components/ingest/helper.py": "def f():\n    import laf.files\n",
        "laf/__init__.py": "", "laf/files.py": "", "laf/unused.py": "",
        "laf/ingest/__init__.py": "from .shared import x\n", "laf/ingest/media.py": "import numpy\n",
        "laf/ingest/shared.py": "x = 1\n",
        "trainer/run_fn.py": "from laf.ingest import media\n",
        "schemas/video.pbtxt": "feature {}", "requirements.lock": "tensorflow==2.16.2",
    })
    entries = ("components/ingest/component.py",)
    assert cv.imported_files(str(tmp_path), entries) == [
        "components/__init__.py", "components/ingest/__init__.py", "components/ingest/component.py",
        "components/ingest/helper.py", "laf/__init__.py", "laf/files.py", "laf/ingest/__init__.py",
        "laf/ingest/media.py", "laf/ingest/shared.py"]
    first, everything = cv.code_version(str(tmp_path), entries), cv.code_version(str(tmp_path))
    for path in ("trainer/run_fn.py", "laf/unused.py"):
        (tmp_path / path).write_text("# v2\n")
        assert cv.code_version(str(tmp_path), entries) == first, path
    assert cv.code_version(str(tmp_path)) != everything
    for path in ("laf/files.py", "laf/ingest/shared.py", "components/ingest/helper.py", "schemas/video.pbtxt",
                 "requirements.lock"):
        before = (tmp_path / path).read_text()
        (tmp_path / path).write_text(before + "# v2\n")
        assert cv.code_version(str(tmp_path), entries) != first, path
        (tmp_path / path).write_text(before)
    assert cv.code_version(str(tmp_path), entries) == first


def test_this_checkouts_ingestion_leaves_the_later_stages_out():
    files = cv.imported_files(cv.PROJECT_ROOT, cv.INGESTION)
    assert "laf/ingest/media.py" in files and "laf/ingest/video_ingest.py" in files
    assert "components/validation_gate/executor.py" not in files  # the gate keys on its own code
    assert "components/validation_gate/executor.py" in cv.imported_files(cv.PROJECT_ROOT, cv.GATE)
    assert not any(f.startswith(("trainer/", "laf/transfer/", "components/domain_transfer/")) for f in files), files
    assert "laf/evaluate/evaluation.py" not in files  # the metrics: a change there must not decode every video again
    assert "schemas/transfer_files.py" not in files  # the rounds artifact's files: read after ingestion only
