"""The one data contract: video SequenceExamples, image Examples and the label vocabulary.

Every component reads and writes exactly these names (``schemas.names``). The TFMD schema
files beside this module describe the same features for TFDV validation. Importing this
package is cheap (no TensorFlow); ``schemas.records`` and ``schemas.parsing`` load TF.
"""
import os as _os

SCHEMA_DIR = _os.path.dirname(_os.path.abspath(__file__))
VIDEO_SCHEMA = _os.path.join(SCHEMA_DIR, "video_schema.pbtxt")  # TFMD schema, video SequenceExample
IMAGE_SCHEMA = _os.path.join(SCHEMA_DIR, "image_schema.pbtxt")  # TFMD schema, image Example
