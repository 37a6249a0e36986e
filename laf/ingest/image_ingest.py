"""Web images -> shared CNN features (paper §3.1) as a Beam pipeline.

Input: a folder tree ``<root>/<label folder>/<files>`` (what querying an image search
engine with each action name yields; sub-folders inherit their top folder's label) or a
manifest (CSV/TSV with a header, headerless ``label,source`` CSV, or JSONL) whose rows give
a ``label`` and an ``image`` (also accepted: ``path`` or ``url``): a file path relative to
the manifest, a ``tf.io.gfile`` URI, or an http(s) URL.

Label folders: a folder name may not hold the ``Activity:Action`` colon on every file
system, so ``__`` stands for ``:`` (``Basketball__Slam dunk`` -> ``Basketball:Slam dunk``);
names with ``:`` are used as they are. Given an existing vocabulary (from video
ingestion), a folder named after just the action (``Slam dunk``) maps to the one label
with that action. Dot-files (``.DS_Store``...) are skipped; files directly under the root
have no label and are rejected.

Pipeline, on any Beam runner (``laf.ingest.runners``: Create, ParDo, GroupByKey, Flatten
only): the inputs go out in chunks of a few batches; per chunk, a thread pool reads/fetches and
decodes while the backbone runs on the previous batch (the model is built once per worker
process), then exact duplicates are removed by content hash (the copy with the smallest
``(label, source)`` is kept, so results do not depend on the runner's order). Duplicates are
counted after the features are computed: that keeps image bytes out of the shuffle. The summary
counts what was written (``laf.ingest.sorted_files``). Outputs in ``output``:
``Split-train/*.gz`` (``ImageRecord`` Examples, by image id), ``rejected.jsonl``, ``labels.json``,
``summary.json`` with ``inputs = accepted + rejected + duplicates``.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import logging
from typing import Any, Dict, Iterable, Iterator, List, Tuple, Union

import apache_beam as beam
import numpy as np

from laf.cpu import usable_cores
from laf.errors import UserError
from laf.ingest import images, rejects, runners, sorted_files
from laf.ingest.backbones import BackboneConfig
from laf.ingest.image_inputs import ImageItem, list_inputs
from laf.ingest.images import ImageError, ImageOptions
from laf.ingest.manifest import load_vocabulary
from laf.progress import LOG as PROGRESS
from laf.progress import count
from schemas.records import ImageRecord
from schemas.vocabulary import Vocabulary

SPLIT = "train"              # web images only train the image-side classifier
NAMESPACE = "image_ingest"   # Beam counter namespace
CHUNK_BATCHES = 4            # batches per unit of work: the pool decodes ahead within a chunk
Embedded = Tuple[str, Tuple[str, bytes, np.ndarray]]  # (sha256, (label, source as UTF-8 bytes, features))


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    batch_size: int = 64     # images per backbone call
    threads: int = 0         # read/decode threads per worker; 0: 2 x CPU cores (max 32)
    image: ImageOptions = ImageOptions()

    @property
    def pool_size(self) -> int:
        return self.threads or min(32, 2 * usable_cores())


def settings_from(options: Dict[str, Any]) -> IngestSettings:
    """``batch_size``, ``threads`` and any ``ImageOptions`` field, by keyword."""
    image_fields = {f.name for f in dataclasses.fields(ImageOptions)}
    unknown = set(options) - image_fields - {"batch_size", "threads"}
    if unknown:
        raise UserError(f"unknown image ingestion option(s) {sorted(unknown)}")
    image = ImageOptions(**{k: v for k, v in options.items() if k in image_fields})
    settings = IngestSettings(options.get("batch_size", 64), options.get("threads", 0), image)
    if settings.batch_size < 1 or settings.threads < 0:
        raise UserError("batch_size must be >= 1 and threads >= 0")
    return settings


# --- Beam ----------------------------------------------------------------------------------

def _read_and_prepare(source: str, size: int, options: ImageOptions) -> Tuple[str, np.ndarray]:
    """(content hash, backbone input); runs in the worker's thread pool."""
    data = images.load(source, options)
    return hashlib.sha256(data).hexdigest(), images.prepare(data, size, options)


class EmbedImages(beam.DoFn):
    """A chunk of ImageItems -> ``Embedded`` per decoded image, a ``Rejected`` per bad one.

    The whole chunk goes to the pool at once: it reads and decodes the next batches while the
    backbone runs on the current one, so decoding overlaps inference.
    """

    def __init__(self, backbone: BackboneConfig, labels: List[str], settings: IngestSettings, total: int = 0):
        self._backbone, self._labels, self._settings, self._total = backbone, labels, settings, total

    def setup(self):
        from laf.ingest.backbones import shared_model

        self._model = shared_model(self._backbone)
        self._pool = concurrent.futures.ThreadPoolExecutor(self._settings.pool_size)
        self._known = set(self._labels)
        self._done = 0

    def process(self, chunk: List[ImageItem]) -> Iterator[Union[Embedded, rejects.Rejected]]:
        if not hasattr(self, "_model"):  # a runner without the DoFn lifecycle: Beam 2.59's DaskRunner
            self.setup()
        pending: collections.deque = collections.deque()
        for item in chunk:
            beam.metrics.Metrics.counter(NAMESPACE, "inputs").inc()
            problem = ("not inside a label folder <root>/<label>/" if not item.label else
                       None if item.label in self._known else f"label {item.label!r} is not in the label vocabulary")
            if problem:
                self._done += 1  # rejected before reading: in no batch
                yield _reject(item, "validate", problem)
            else:
                future = self._pool.submit(_read_and_prepare, item.source, self._backbone.size, self._settings.image)
                pending.append((item, future))
        while pending:
            yield from self._embed_batch(pending)

    def _embed_batch(self, pending: collections.deque) -> Iterator[Union[Embedded, rejects.Rejected]]:
        size = min(self._settings.batch_size, len(pending))
        self._done += size
        ready = []
        for item, future in [pending.popleft() for _ in range(size)]:
            try:
                ready.append((item, *future.result()))
            except ImageError as e:
                yield _reject(item, e.stage, e.reason, e.unreachable)
            except Exception as e:  # a decoder bug on one file must not stop the run
                if rejects.machine_fault(e):
                    raise
                yield _reject(item, "decode", f"unexpected {type(e).__name__}: {e}")
        PROGRESS.info("%s images read: %d decoded, %d rejected", count(self._done, self._total), len(ready),
                      size - len(ready))
        if not ready:
            return
        batch = np.stack([pixels for _, _, pixels in ready])
        if len(batch) < self._settings.batch_size:  # one fixed shape: the model is traced once
            batch = np.concatenate([batch, np.zeros((self._settings.batch_size - len(batch),) + batch.shape[1:],
                                                    batch.dtype)])
        features = self._model.run(batch)
        for (item, sha, _), vector in zip(ready, features):  # the name as bytes: see files.wire_text
            if not np.isfinite(vector).all():  # as a video's: this image, not the run (domain transfer)
                yield _reject(item, "features", "the backbone gave NaN or infinite features")
                continue
            yield sha, (item.label, item.source.encode("utf-8", "surrogateescape"), vector)

    def teardown(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


def _reject(item: ImageItem, stage: str, reason: str, unreachable: bool = False) -> rejects.Rejected:
    beam.metrics.Metrics.counter(NAMESPACE, "rejected").inc()
    beam.metrics.Metrics.counter(NAMESPACE, f"rejected_{stage}").inc()
    return rejects.Rejected(item.source, stage, reason, item.label, unreachable)


def _rejected(result: Union[Embedded, rejects.Rejected]) -> List[sorted_files.Element]:
    if isinstance(result, rejects.Rejected):
        return [(sorted_files.REJECTED, result.to_json(), result.to_json())]
    return []


def _by_content_hash(result: Union[Embedded, rejects.Rejected]) -> List[Tuple[int, Embedded]]:
    return [] if isinstance(result, rejects.Rejected) else [(runners.portable_key(result[0]), result)]


def _keep_first(group: Tuple[int, Iterable[Embedded]], index: Dict[str, int]) -> Iterator[sorted_files.Element]:
    """One (destination, image id, record) per content hash; the rest are duplicates, each a line
    of ``duplicates.jsonl`` naming the copy kept. A copy under another label is also a warning: that
    label loses the image (its only one, possibly, which domain transfer then refuses)."""
    copies = [(label, source.decode("utf-8", "surrogateescape"), sha, features)
              for sha, (label, source, features) in group[1]]
    first, *others = sorted(copies, key=lambda c: (c[0], c[1]))
    label, source, sha, features = first
    beam.metrics.Metrics.counter(NAMESPACE, "accepted").inc()
    yield f"Split-{SPLIT}", sha[:16], ImageRecord(sha[:16], label, index[label], features, source, sha).serialize()
    for dup_label, dup_source, _, _ in others:
        beam.metrics.Metrics.counter(NAMESPACE, "duplicates").inc()
        if dup_label != label:
            logging.warning("%s (%s) holds the same bytes as %s, kept under %s: %s loses it", dup_source, dup_label,
                            source, label, dup_label)
        yield sorted_files.duplicate(dup_source, dup_source, dup_label, source, label, sha256=sha)


def ingest(pipeline, items: List[ImageItem], vocabulary: Vocabulary, output: str,
           backbone: BackboneConfig, settings: IngestSettings) -> None:
    """Add the ingestion transforms for ``items`` to ``pipeline`` (writing into ``output``;
    ``sorted_files.complete`` after the run)."""
    size = CHUNK_BATCHES * settings.batch_size
    chunks = [items[start:start + size] for start in range(0, len(items), size)]
    embedded = (pipeline
                | "Inputs" >> beam.Create(chunks)
                | "Spread" >> beam.Reshuffle()
                | "ReadDecodeEmbed" >> beam.ParDo(EmbedImages(backbone, vocabulary.labels, settings, total=len(items))))
    kept = (embedded
            | "ContentHash" >> beam.FlatMap(_by_content_hash)
            | "ByContentHash" >> beam.GroupByKey()
            | "DropDuplicates" >> beam.FlatMap(_keep_first, {label: i for i, label in enumerate(vocabulary.labels)}))
    rejected = embedded | "Rejected" >> beam.FlatMap(_rejected)
    sorted_files.write((kept, rejected) | "All" >> beam.Flatten(), output)


def run(pipeline, root: str, output: str, backbone: BackboneConfig,
        vocabulary: Union[None, str, Vocabulary] = None, **options) -> Dict[str, int]:
    """List and validate the inputs, write ``labels.json``, run ``pipeline``; the summary."""
    settings = settings_from(options)
    given = load_vocabulary(vocabulary)
    items = list_inputs(root, given)
    if given is None:
        _warn_without_activity(items)
    vocab = given or Vocabulary.build(item.label for item in items if item.label)
    if given is not None:
        unused = sorted(set(given.labels) - {item.label for item in items})
        if unused:
            logging.warning("no images for %d vocabulary label(s): %s (domain transfer refuses actions without"
                            " images)", len(unused), unused)
    sorted_files.prepare(output, (f"Split-{SPLIT}",))
    vocab.save(output)
    with pipeline as p:
        ingest(p, items, vocab, output, backbone, settings)
    counts = sorted_files.complete(output, (f"Split-{SPLIT}",))
    check_reachable(output, sum(images.is_url(item.source) for item in items))
    summary = rejects.summary(len(items), counts[f"Split-{SPLIT}"], counts[sorted_files.REJECTED],
                              counts[sorted_files.DUPLICATE])
    rejects.write_summary(output, summary)
    return summary


UNREACHABLE_SHARE = 0.5  # of the downloads: this many without an answer is the network's failure, not the images'


def check_reachable(output: str, downloads: int) -> None:
    """Fail the run when at least :data:`UNREACHABLE_SHARE` of the downloads got no answer (DNS, refused,
    timed out, HTTP 429/5xx); warn of fewer. Why: rejections are cached with the run's output, so an
    outage (offline, a proxy down) left those images rejected on every rerun, and the actions without
    images failed domain transfer, or kept fewer images, quietly."""
    unreachable = [r for r in rejects.read_rejected(output) if r["unreachable"]]
    if not unreachable:
        return
    said = (f"{len(unreachable)} of {downloads} image downloads got no answer (name lookup, connection, timeout,"
            f" HTTP 429/5xx; the first: {unreachable[0]['source']}: {unreachable[0]['reason']})")
    if len(unreachable) >= UNREACHABLE_SHARE * downloads:
        raise UserError(f"{said}: is the network or a proxy down? Failed rather than kept as rejections, which"
                        " a rerun would reuse from cache: rerun once they answer")
    logging.warning("%s; they stay rejected in this output (a rerun reuses it from cache: --no-cache retries them)",
                    said)


def _warn_without_activity(items: List[ImageItem]) -> None:
    """Action names alone (``<root>/Slam dunk/``) are taken as they are, each its own activity, which
    activity Hit@k then cannot group; said, since the videos' labels would map them."""
    bare = sorted({item.label for item in items if item.label and ":" not in item.label})
    if bare:
        logging.warning("%d label(s) without an activity, each its own activity: %s (name the folders"
                        " 'Activity__Action', or pass --labels with the videos' labels.json to map action names"
                        " onto it)", len(bare), ", ".join(bare[:5]) + (", ..." if len(bare) > 5 else ""))


def extract_images(root: str, output: str, backbone: BackboneConfig, beam_args=None, **options) -> dict:
    """Standalone image feature extraction (``laf extract images``); returns the summary
    ``{"inputs", "accepted", "rejected", "duplicates"}``. ``options``: ``vocabulary`` (a
    ``Vocabulary``, or a path to ``labels.json`` / its folder: images with other labels are
    rejected), ``batch_size``, ``threads`` and the ``ImageOptions`` limits."""
    return run(runners.make_pipeline(beam_args), root, output, backbone, **options)
