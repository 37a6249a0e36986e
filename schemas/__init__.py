"""The one data contract: video SequenceExamples, image Examples and the label vocabulary.

Every component reads and writes exactly these names. The TFMD schema files beside this
module (``video_schema.pbtxt``, ``image_schema.pbtxt``) describe the same features for
TFDV validation.
"""
from schemas.records import ImageRecord, VideoRecord, Segment
from schemas.vocabulary import Vocabulary

__all__ = ["ImageRecord", "VideoRecord", "Segment", "Vocabulary"]

import os as _os

SCHEMA_DIR = _os.path.dirname(_os.path.abspath(__file__))
VIDEO_SCHEMA = _os.path.join(SCHEMA_DIR, "video_schema.pbtxt")  # TFMD schema, video SequenceExample
IMAGE_SCHEMA = _os.path.join(SCHEMA_DIR, "image_schema.pbtxt")  # TFMD schema, image Example
