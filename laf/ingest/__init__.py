"""The ingestion stage: videos and web images -> contract records, as Beam transforms that run on
any Beam runner (DirectRunner locally, Dask / Dataflow / Flink / Spark at scale), and what they
stand on: the manifest, frame sampling, the shared CNN representation, rejected records.

Kept empty so that importing a helper here (``laf.ingest.preflight`` and the ``manifest`` and
``image_inputs`` it reads) loads neither Beam nor TensorFlow.
"""
