"""The ingestion stage: videos and web images -> contract records, as Beam transforms that run on
any Beam runner (DirectRunner locally, Dask / Dataflow / Flink / Spark at scale).

Kept empty so that importing a helper here (``laf.ingest.image_inputs`` for the pre-flight
checks) loads neither Beam nor TensorFlow.
"""
