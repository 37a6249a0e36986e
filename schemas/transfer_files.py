"""Files in a DomainTransferRounds artifact: written by domain transfer, read by the report and the
benches. Apart from ``names`` because ingestion keys its cache on the code it imports
(``pipeline.code_version``): a new name here must not re-ingest every video."""

ROUNDS_FILE = "rounds.json"              # per-round counts, validation accuracy, chosen round, stop reason
FLOOR_FILE = "floor_cases.json"          # classes the class floor topped up
IMAGE_FILTER_FILE = "image_filter.json"  # which web images the chosen round kept:
# {"images": [{"image_id": str, "label": str, "kept": bool, "source": str (optional)}, ...]}; without "source",
# a reader looks the path up by image_id in the ImageIngest Examples (ImageRecord.source)
