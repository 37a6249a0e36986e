"""Local runs: LocalDagRunner, SQLite ML Metadata under the pipeline root, Beam DirectRunner.

Caching is on, so rerunning after a failure or a kill resumes: completed components are
reused from ML Metadata and only the rest runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
from typing import Iterator, Optional, Tuple

import schemas
from laf import files, run_store
from laf.errors import UserError
from laf.ingest import runners
from laf.ingest.manifest import Manifest
from laf.progress import count
from pipeline.config import PipelineConfig
from schemas.vocabulary import Vocabulary

Inputs = Tuple[Manifest, Vocabulary]  # the videos' rows and vocabulary, checked (check_inputs)

_PROGRESS = re.compile(r"^Component (?P<node>\S+) is (?P<state>running|finished)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")
# TFX 1.16's LocalDagRunner warns this for every input query of every component; harmless.
_NOISE = ("ArtifactQuery.property_predicate is not supported",)


class _Progress(logging.Filter):
    """Turns LocalDagRunner's INFO records into one progress line per component; other INFO
    records are dropped (they drown the output), warnings and errors pass unchanged."""

    def __init__(self, total: int):
        super().__init__()
        self.total, self.done, self.started, self.cached = total, 0, {}, set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return not message.startswith(_NOISE)
        match = _PROGRESS.match(message)
        if _CACHED.match(message) and self.started:
            self.cached.add(list(self.started)[-1])
        elif match and match["state"] == "running":
            self.started[match["node"]] = time.time()
            print(f"{count(self.done + 1, self.total)} {match['node']} ...", flush=True)
        elif match:
            self.done += 1
            node = match["node"]
            how = "reused from cache" if node in self.cached else f"{time.time() - self.started.get(node, time.time()):.0f} s"
            print(f"{count(self.done, self.total)} {node} done ({how})", flush=True)
        return False


@contextlib.contextmanager
def progress(total: int) -> Iterator[None]:
    """Filter on the ``absl`` logger itself, so it applies whichever handlers print records."""
    from absl import logging as absl_logging

    logger = logging.getLogger("absl")
    flt = _Progress(total)
    previous = absl_logging.get_verbosity()
    logger.addFilter(flt)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        yield
    finally:
        absl_logging.set_verbosity(previous)
        logger.removeFilter(flt)


def check_inputs(cfg: PipelineConfig) -> Inputs:
    """The videos' rows and vocabulary, after the preflight checks of the inputs (no TF or Beam is
    loaded: a mistake shows in a second)."""
    from laf.ingest.preflight import check_labels

    check_globbable("pipeline_root", cfg.pipeline_root)
    for key in ("pipeline_root", "serving_dir"):  # the Pusher, the last step, would find it out after all the work
        check_output_folder(key, getattr(cfg, key))
    check_metadata_moved(cfg)
    videos = cfg.data.read_videos()
    check_cloud_worker_paths(cfg, videos)  # before the runner's own checks, which reach for its buckets
    check_beam_runners(cfg)
    vocabulary = check_labels(videos, cfg.data.video_source, cfg.data.images, cfg.data.split_ratios,
                              cfg.data.taxonomy)
    if cfg.trainer.variant == "oracle" and not any(row.segments for row in videos.rows if row.split == "train"):
        raise UserError(f"trainer.variant oracle weights each frame by the ground truth, but no train video of"
                        f" {cfg.data.video_source} has segments: it would learn nothing")
    return videos, vocabulary


def check_beam_runners(cfg: PipelineConfig, build: bool = True) -> None:
    """Beam flags Beam would drop (a misspelt name), and a ``--runner`` Beam does not know, refused in one
    line now rather than by the first component, after TF has loaded (Beam is imported only when flags are
    given). Without ``build`` (a compiled spec, run elsewhere) only the runner's name is checked."""
    for key, args in cfg.beam.checked_args():
        if not args:
            continue
        try:
            runner = runners.beam_flags(args).runner
            if build and runner is not None:
                runners.make_pipeline(args)  # checks the flag names too
            else:
                runners.check_flag_names(args)
                if runner is not None:
                    runners.check_runner_name(args)
        except UserError as e:
            raise UserError(f"{key}: {e}") from None


def check_cloud_worker_paths(cfg: PipelineConfig, videos) -> None:
    """With DataflowRunner the components' workers run in the cloud, where this machine's paths are not:
    the pipeline root (every Beam component), and for ingestion the videos and the images (a folder, or
    a manifest's rows). Refused now, naming them, not by the job after its submission and workers' start."""
    for (key, args), ingestion in ((("beam.extra_args", cfg.beam.extra_args), False),
                                   (cfg.beam.ingestion_args(), True)):
        if not runners.is_runner(runners.beam_flags(args).runner, "Dataflow"):
            continue
        local = [f"pipeline_root {cfg.pipeline_root}"] if not files.is_remote(cfg.pipeline_root) else []
        if ingestion:
            local += [f"data.video_dir {cfg.data.video_dir}"] if cfg.data.video_dir and not files.is_remote(
                cfg.data.video_dir) else []  # not a weights file: the workers' image may hold it
            local += _local_items(f"video(s) of {cfg.data.video_source}",
                                  [f"{row.uri} ({row.where})" for row in videos.rows if not files.is_remote(row.uri)])
            local += _local_images(cfg.data.images)
        if local:
            raise UserError(f"{key} runs on DataflowRunner, whose workers cannot reach this machine's paths: "
                            f"{'; '.join(local)}; give gs:// URIs")


def _local_images(images: str) -> list:
    """What of ``data.images`` the workers would read on this machine: a local folder, or a manifest's local rows."""
    from laf.ingest.image_inputs import read_manifest

    if not images or files.is_remote(images):  # its rows are relative to it, or URLs: not listed (that reads the bucket)
        return []
    if files.isdir(images):
        return [f"data.images {images}"]
    return _local_items(f"image(s) of {images}", [i.source for i in read_manifest(images) if not files.is_remote(i.source)])


def _local_items(what: str, local: list) -> list:
    return [f"{len(local)} {what}, the first {local[0]}"] if local else []


def check_metadata_moved(cfg: PipelineConfig) -> None:
    """A remote root's ML Metadata that an earlier version kept under the current folder (SQLite read
    ``gs://b/root/metadata.sqlite`` as ``./gs:/b/root/...``): refused, naming where it goes, since a
    run without it would find no cache and no blessed model to compare with."""
    if not files.is_remote(cfg.pipeline_root):
        return
    old = os.path.abspath(os.path.join(cfg.pipeline_root, run_store.METADATA_FILE))
    if os.path.isfile(old) and not os.path.exists(cfg.metadata_path):
        raise UserError(f"the ML Metadata of {cfg.pipeline_root} is at {old}, where earlier versions kept it; move it"
                        f" to {cfg.metadata_path} (mkdir -p {os.path.dirname(cfg.metadata_path)} && mv {old}"
                        f" {cfg.metadata_path})")


def check_globbable(key: str, path: str) -> None:
    """The pipeline root (or a folder above it) must hold no glob pattern characters: TF's and TFX's
    readers glob the artifact folders under it, so ``runs[1]`` matched nothing and ingestion counted
    0 of everything."""
    if any(c in path for c in "[]*?\\"):  # TF's glob reads a backslash as an escape
        raise UserError(f"{key}: {path} holds one of [ ] * ? \\, which the pipeline's file globs read as patterns;"
                        " choose a folder name without them")


def check_output_folder(key: str, path: str) -> None:
    """A local output folder must be a folder, or creatable: its nearest existing parent a writable
    folder (a remote URI is left to its file system)."""
    if files.is_remote(path):
        return
    path = files.local(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{key}: {path} is a file, not a folder")
    blocker = files.folder_blocker(path)
    if blocker is not None:
        raise UserError(f"{key}: {path} cannot be written: {blocker} is not writable" if os.path.isdir(blocker)
                        else f"{key}: {path} cannot be created: {blocker} is a file")


def schema_snapshot(pipeline_root: str) -> str:
    """``<pipeline_root>/schemas/<content hash>/``: copies of the schema files, in a folder named by
    what they hold. Why: TFX's cache keys ImportSchemaGen by the path it reads, so after an upgrade
    that changed the data contract the schema cached from the old one would validate the new records
    (and fail them for a "new column"); a new path is a new cache key. Written with ``tf.io.gfile``,
    so a ``gs://`` pipeline root holds them too."""
    import tensorflow as tf

    folder = f"{pipeline_root.rstrip('/')}/schemas/{schemas.digest(schemas.VIDEO_SCHEMA, schemas.IMAGE_SCHEMA)}"
    for path in (schemas.VIDEO_SCHEMA, schemas.IMAGE_SCHEMA):
        target = f"{folder}/{os.path.basename(path)}"
        if not tf.io.gfile.exists(target):
            tf.io.gfile.makedirs(folder)
            partial = f"{target}.{os.getpid()}.tmp"  # a killed run never leaves half a schema, nor do two runs
            tf.io.gfile.copy(path, partial, overwrite=True)  # racing on one root clash on one temporary name
            tf.io.gfile.rename(partial, target, overwrite=True)
    return folder


def local_pipeline(cfg: PipelineConfig, enable_cache: bool = True, inputs: Optional[Inputs] = None):
    """The pipeline a local run executes, after the inputs' checks (``inputs``: their result, when
    the caller already made them): with the fingerprints of the files it reads and the videos'
    vocabulary (``create_pipeline``'s local-run arguments)."""
    from tfx import v1 as tfx

    from laf.ingest import fingerprint
    from laf.ingest.backbones import BackboneConfig, check_weights
    from pipeline import baseline
    from pipeline.pipeline import create_pipeline

    videos, vocabulary = inputs or check_inputs(cfg)
    check_weights(BackboneConfig.from_properties(dataclasses.asdict(cfg.features)))
    os.makedirs(os.path.dirname(cfg.metadata_path), exist_ok=True)  # a local root itself; a gs:// one's local home
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_path)
    fingerprints = {"videos": fingerprint.video_inputs(cfg.data.video_source, videos, cfg.features.weights,
                                                       cfg.data.taxonomy),
                    "images": fingerprint.image_inputs(cfg.data.images, cfg.features.weights)}
    unusable = baseline.mismatch(cfg, vocabulary)
    if unusable:  # the resolver finds it so too (pipeline.resolver); said here, before the imports and ingestion
        print(f"note: the latest blessed model cannot be this run's baseline: {unusable}; the Evaluator runs without"
              " one (no change threshold), as on a first run", flush=True)
    return create_pipeline(cfg, metadata_connection_config=metadata, enable_cache=enable_cache,
                           input_fingerprints=fingerprints, vocabulary=vocabulary,
                           schema_dir=schema_snapshot(cfg.pipeline_root), other_than_own=True)


def run(cfg: PipelineConfig, enable_cache: bool = True, inputs: Optional[Inputs] = None) -> None:
    from tfx import v1 as tfx

    pipeline = local_pipeline(cfg, enable_cache, inputs)
    with progress(len(pipeline.components)):
        tfx.orchestration.LocalDagRunner().run(pipeline)
    restored = restore_pushed(cfg)
    if restored:
        print(f"restored the pushed model {files.shown(restored)}: it had been deleted since the run that pushed"
              f" it, which this run reused from cache", flush=True)
    above = serve_latest_push(cfg)
    if above:
        print(f"pushed the model again as {files.shown(above[1])}: {files.shown(above[0])}, a newer version in"
              f" {files.shown(cfg.serving_dir)}, is another run's model, which TF Serving would serve instead (this"
              " run reused an older push from cache)", flush=True)


def _latest_push(cfg: PipelineConfig):
    """(the store, the latest Pusher's PushedModel, where it was pushed or None)."""
    store = run_store.open_store(cfg.pipeline_root)
    _, outputs = run_store.latest_execution(store, run_store.PUSHER)
    [pushed] = outputs["pushed_model"]
    return store, pushed, run_store.pushed_destination(pushed)


def _copy_model(source: str, destination: str) -> None:
    """Copy a SavedModel the way the Pusher does, ``saved_model.pb`` last, so TF Serving never loads half a model."""
    from tfx.utils import io_utils

    io_utils.copy_dir(source, destination, deny_regex_patterns=[r"saved_model\.pb"])
    io_utils.copy_file(files.join(source, "saved_model.pb"), files.join(destination, "saved_model.pb"),
                       overwrite=True)


def restore_pushed(cfg: PipelineConfig) -> Optional[str]:
    """Put the latest push back where it went, if it was deleted since (returns where). Why: the
    Pusher's cache key is its model, blessing and destination folder, not what that folder still
    holds; after ``rm -r serving_dir`` a rerun reuses the push and serves nothing. Its copy under
    the pipeline root (``PushedModel``'s own folder) is the source."""
    _, pushed, destination = _latest_push(cfg)
    if not destination or run_store.holds_model(destination):
        return None
    if not run_store.holds_model(pushed.uri):
        raise UserError(f"the pushed model {files.shown(destination)} was deleted, and so was the Pusher's copy"
                        f" {files.shown(pushed.uri)}: rerun with --no-cache to push it again")
    _copy_model(pushed.uri, destination)
    return destination


def serve_latest_push(cfg: PipelineConfig) -> Optional[Tuple[str, str]]:
    """Push the latest push's model again, as a version above the newest, when a newer version holds
    another run's model; returns (that newer version, the new one), recorded as the push's destination.
    Why: TF Serving serves the highest version, and going back to earlier settings reuses their
    Evaluator and Pusher from cache, so the other settings' model, pushed since, stayed served."""
    store, pushed, destination = _latest_push(cfg)
    if not destination or not run_store.holds_model(destination):
        return None
    serving, own = os.path.split(destination.rstrip("/"))
    if not own.isdigit():
        return None
    versions = run_store.model_versions(serving)  # its own among them
    newest = max(versions)
    if newest <= int(own):
        return None
    version = str(newest + 1)
    again = files.join(serving, version)
    _copy_model(pushed.uri if run_store.holds_model(pushed.uri) else destination, again)
    pushed.custom_properties["pushed_destination"].string_value = again
    pushed.custom_properties["pushed_version"].string_value = version
    store.put_artifacts([pushed])
    return versions[newest], again
