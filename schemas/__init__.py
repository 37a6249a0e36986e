"""The one data contract: video SequenceExamples, image Examples and the label vocabulary.

Every component reads and writes exactly these names (``schemas.names``). The TFMD schema
files beside this module describe the same features for TFDV validation. Importing this
package is cheap (no TensorFlow); ``schemas.records`` and ``schemas.parsing`` load TF.
"""
import hashlib as _hashlib
import os as _os

SCHEMA_DIR = _os.path.dirname(_os.path.abspath(__file__))
VIDEO_SCHEMA = _os.path.join(SCHEMA_DIR, "video_schema.pbtxt")  # TFMD schema, video SequenceExample
IMAGE_SCHEMA = _os.path.join(SCHEMA_DIR, "image_schema.pbtxt")  # TFMD schema, image Example
MIN_FPS = 0.0001  # VIDEO_SCHEMA's float_domain for fps: a lower rate would fail validation after the whole ingestion


def digest(*paths: str) -> str:
    """A short hash of what the schema files hold: it changes when the data contract does, so
    records and schemas cached by TFX under an older contract are not reused (``laf.ingest.fingerprint``,
    ``pipeline.local_runner``)."""
    h = _hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            content = f.read()
        h.update(f"{_os.path.basename(path)}\t{len(content)}\n".encode())  # files' boundaries count too
        h.update(content)
    return h.hexdigest()[:16]
