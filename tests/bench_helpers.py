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


def put_execution(store, type_name: str, state, outputs=None, inputs=None, reused=None, props=None) -> int:
    """An execution of the component type ``type_name`` (``run_store.TRAINER``, ...) in the state
    ``state`` (``Execution.COMPLETE``, ...), in a node context named after the type's last part, with
    artifacts by channel key: ``outputs`` {key: (type name, uri, published?)} made here, ``inputs``
    {key: artifact id}, ``reused`` {key: artifact id} outputs of an earlier execution (as a cached
    rerun links them), ``props`` {name: text} custom properties; its id."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    kind = store.put_execution_type(pb.ExecutionType(name=type_name))
    execution = pb.Execution(type_id=kind, last_known_state=state)
    for name, text in (props or {}).items():
        execution.custom_properties[name].string_value = text
    [run] = store.put_executions([execution])
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


# what the readers of a run take from the executions' properties, per run number
PROPS = {run_store.VIDEO_INGEST: lambda n: {"manifest": f"/data/run{n}/videos.csv"},
         run_store.TRAINER: lambda n: {"custom_config": json.dumps({"epochs": n})}}
STAGES = ("ImageIngest", "VideoIngest", "DomainTransfer", "Trainer", "Evaluator", "Pusher")


def pipeline_run(store, root, n: int, cached_from: dict = None, last: str = "Pusher") -> dict:
    """One run's executions from ImageIngest up to ``last`` (of :data:`STAGES`), with fresh artifacts
    under ``root/run{n}``, or, given an earlier run's artifacts, a cached rerun of them (new CACHED
    executions linking the earlier artifacts, as TFX publishes them); its artifact ids by key, and
    under "run" the number of the run that made them."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    ids: dict = {"run": cached_from["run"] if cached_from else n}  # a cached execution keeps its properties
    props = {type_name: make(ids["run"]) for type_name, make in PROPS.items()}
    # per component: {name in the returned ids: (its output key, artifact type)}, {input key: name}
    plan = [(run_store.IMAGE_INGEST, {"images": ("examples", "Examples")}, {}),
            (run_store.VIDEO_INGEST, {"videos": ("examples", "Examples"),
                                      "vocabulary": ("vocabulary", "LabelVocabulary")}, {}),
            (run_store.DOMAIN_TRANSFER, {"scored_examples": ("scored_examples", "Examples"),
                                         "rounds": ("rounds", "laf.DomainTransferRounds")},
             {"videos": "videos", "images": "images"}),
            (run_store.TRAINER, {"model": ("model", "Model")}, {"examples": "scored_examples"}),
            (run_store.EVALUATOR, {"evaluation": ("evaluation", "ModelEvaluation"),
                                   "blessing": ("blessing", "ModelBlessing")}, {"model": "model", "examples": "videos"}),
            (run_store.PUSHER, {"pushed_model": ("pushed_model", "PushedModel")}, {"model": "model"})]
    for type_name, made, inputs in plan[:STAGES.index(last) + 1]:
        given = {key: ids[name] for key, name in inputs.items()}
        if cached_from:
            put_execution(store, type_name, pb.Execution.CACHED, inputs=given,
                          reused={key: cached_from[name] for name, (key, _) in made.items()}, props=props.get(type_name))
            ids.update({name: cached_from[name] for name in made})
            continue
        uris = {name: str(root / f"run{n}" / name) for name in made}
        put_execution(store, type_name, pb.Execution.COMPLETE,
                      {key: (kind, uris[name], True) for name, (key, kind) in made.items()}, given,
                      props=props.get(type_name))
        ids.update({name: a.id for a in store.get_artifacts() for name, uri in uris.items() if a.uri == uri})
    return ids


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
