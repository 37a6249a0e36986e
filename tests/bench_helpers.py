"""Helpers of the tests that read what a bench printed or give it a run's metadata store."""
import json


def last_json(out: str) -> dict:
    """The JSON object a bench prints as its last stdout line."""
    return json.loads(out.strip().splitlines()[-1])


def mlmd_store(path: str):
    """An ML Metadata store in the SQLite file ``path`` (created when missing), as a run's is."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)
