"""Beam pipelines from command-line style flags, on any runner: ``--runner=`` DirectRunner,
DataflowRunner, FlinkRunner, SparkRunner, ... as Beam takes them, and ``DaskRunner`` (which
Beam 2.59 does not register by name) as ``laf.ingest.dask_runner.ClusterDaskRunner``.

The ingestion pipelines use only what every one of them runs, DaskRunner 2.59 included:
Create, Reshuffle, ParDo/Map/FlatMap with ``process`` alone (``setup`` is called lazily), one
output per ParDo, GroupByKey on ``portable_key``s, Flatten; no side inputs, no metrics for
results (counts come from the written data: ``laf.ingest.sorted_files``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from laf.errors import UserError, first_line

if TYPE_CHECKING:
    import apache_beam as beam

DASK_RUNNER_NAMES = ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner")


def names_dask(beam_args: Sequence[str]) -> bool:
    """Whether ``beam_args`` choose DaskRunner (``--runner=X`` or ``--runner X``); Beam is not loaded."""
    args = list(beam_args)
    runners = [a.split("=", 1)[1] if a.startswith("--runner=") else args[i + 1]  # in argument order: the last wins,
               for i, a in enumerate(args)                                     # as in Beam's parser
               if a.startswith("--runner=") or (a == "--runner" and i + 1 < len(args))]
    return bool(runners) and runners[-1] in DASK_RUNNER_NAMES


def check_dask_timeout(beam_args: Sequence[str]) -> None:
    """``--dask_connection_timeout`` must be whole seconds: Beam reads any other value as "not
    given", so the client would wait Dask's default without a word."""
    args = list(beam_args)
    for i, a in enumerate(args):
        value = (a.split("=", 1)[1] if a.startswith("--dask_connection_timeout=") else
                 args[i + 1] if a == "--dask_connection_timeout" and i + 1 < len(args) else None)
        if value is not None and not value.strip().isdigit():
            raise UserError(f"--dask_connection_timeout must be whole seconds, got {value!r}")


def make_pipeline(beam_args: Optional[Iterable[str]] = None) -> "beam.Pipeline":
    """A Beam pipeline for ``beam_args`` (``--runner=...`` and that runner's flags)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    args = list(beam_args or [])
    options = PipelineOptions(args)
    if options.view_as(StandardOptions).runner in DASK_RUNNER_NAMES:
        check_dask_timeout(args)
        try:
            from laf.ingest.dask_runner import ClusterDaskRunner
        except ImportError as e:
            raise UserError(f"--runner=DaskRunner needs dask[distributed]==2023.5.0 (pip install"
                            f" 'laf-pipeline[dask]'): {e}") from None
        return beam.Pipeline(runner=ClusterDaskRunner(), options=options)
    try:
        return beam.Pipeline(options=options)
    except ValueError as e:  # "Unexpected pipeline runner: DaskRuner": the user's flag, said in one line
        raise UserError(f"Beam options {args}: {first_line(str(e))}") from None


def portable_key(text: str) -> int:
    """``text`` as a GroupByKey key that groups alike in every worker process: equal texts give
    equal ints, and an int's ``hash()`` is the same everywhere. DaskRunner partitions groups by
    ``hash()``, which for str is salted per process (PYTHONHASHSEED): a str key would land in
    several groups, one per worker that saw it."""
    return int.from_bytes(text.encode("utf-8"), "big")
