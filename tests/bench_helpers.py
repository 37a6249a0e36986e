"""Helpers of the tests that read what a bench printed or give it a run's metadata store."""
import json

from laf import run_store


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


def context_id(store, type_name: str, name: str) -> int:
    """The id of the context ``name`` of type ``type_name`` (a node, a pipeline), made when missing."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    kind = store.put_context_type(pb.ContextType(name=type_name))
    found = store.get_context_by_type_and_name(type_name, name)
    return found.id if found is not None else store.put_contexts([pb.Context(type_id=kind, name=name)])[0]


def put_execution(store, type_name: str, state, outputs=None, inputs=None, reused=None) -> int:
    """An execution of the component type ``type_name`` (``run_store.TRAINER``, ...) in the state
    ``state`` (``Execution.COMPLETE``, ...), in a node context named after the type's last part, with
    artifacts by channel key: ``outputs`` {key: (type name, uri, published?)} made here, ``inputs``
    {key: artifact id}, ``reused`` {key: artifact id} outputs of an earlier execution (as a cached
    rerun links them); its id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    kind = store.put_execution_type(pb.ExecutionType(name=type_name))
    [run] = store.put_executions([pb.Execution(type_id=kind, last_known_state=state)])
    context = context_id(store, "node", f"laf.{type_name.rsplit('.', 1)[-1]}")
    store.put_attributions_and_associations([], [pb.Association(context_id=context, execution_id=run)])
    events = []
    for key, (artifact_type, uri, live) in (outputs or {}).items():
        artifact = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name=artifact_type)), uri=str(uri),
                               state=pb.Artifact.LIVE if live else pb.Artifact.PENDING)
        [artifact_id] = store.put_artifacts([artifact])
        events.append((key, artifact_id, pb.Event.OUTPUT))
    events += [(key, artifact_id, pb.Event.OUTPUT) for key, artifact_id in (reused or {}).items()]
    events += [(key, artifact_id, pb.Event.INPUT) for key, artifact_id in (inputs or {}).items()]
    made = []
    for key, artifact_id, direction in events:
        made.append(pb.Event(artifact_id=artifact_id, execution_id=run, type=direction))
        made[-1].path.steps.add().key = key
    store.put_events(made)
    return run


def partial_run(root) -> None:
    """A store as a first run leaves it when killed in training: DomainTransfer published its image
    model (a ``Model`` too, with a serving folder), the Trainer failed with its outputs unpublished;
    an Evaluator of an earlier run published an evaluation whose folder was deleted since."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = mlmd_store(str(root / "metadata.sqlite"))
    (root / "DomainTransfer" / "Format-Serving").mkdir(parents=True)
    put_execution(store, run_store.DOMAIN_TRANSFER, pb.Execution.COMPLETE, {"laf_model": ("Model", root / "DomainTransfer", True)})
    put_execution(store, run_store.TRAINER, pb.Execution.FAILED, {"model": ("Model", root / "Trainer", False)})
    put_execution(store, run_store.EVALUATOR, pb.Execution.COMPLETE,
                  {"evaluation": ("ModelEvaluation", root / "Evaluator", True)})
