"""Beam pipelines from command-line style flags, on any runner: ``--runner=`` DirectRunner,
DataflowRunner, FlinkRunner, SparkRunner, ... as Beam takes them, and ``DaskRunner`` (which
Beam 2.59 does not register by name) as ``laf.ingest.dask_runner.ClusterDaskRunner``.

The ingestion pipelines use only what every one of them runs, DaskRunner 2.59 included:
Create, Reshuffle, ParDo/Map/FlatMap with ``process`` alone (``setup`` is called lazily), one
output per ParDo, GroupByKey on ``portable_key``s, Flatten; no side inputs, no metrics for
results (counts come from the written data: ``laf.ingest.sorted_files``).
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from laf.errors import UserError, first_line

if TYPE_CHECKING:
    import apache_beam as beam

DASK_RUNNER_NAMES = ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner")


class _FlagParser(argparse.ArgumentParser):
    def error(self, message: str):  # e.g. "--runner" without a value: one line, not argparse's exit
        raise UserError(f"Beam options: {message}")


def beam_flags(beam_args: Sequence[str]) -> argparse.Namespace:
    """The flags this package reads, as Beam's own parser reads them: ``--x=v`` or ``--x v``, a
    unique prefix (``--runn``) for the name, the last one given wins. A flag and its value in one
    item with a space between (``"--runner DataflowRunner"``, a shell habit in a YAML list) is refused:
    Beam drops such an item with a log line, so the run went on, on the DirectRunner."""
    for arg in beam_args:
        name, _, value = arg.partition("=")
        if arg.lstrip().startswith("-") and arg[:1].isspace():
            raise UserError(f"Beam options: {arg!r} starts with a space, so Beam would drop it; write {arg.strip()!r}")
        if arg.startswith("-") and len(name.split()) > 1:
            flag, rest = name.split(None, 1)
            raise UserError(f"Beam options: {arg!r} is one item with a space after the flag name, which Beam would"
                            f" drop; write {flag}={rest.strip()}{'=' + value if value else ''} or give the flag and its"
                            " value as two items")
    parser = _FlagParser(add_help=False, allow_abbrev=True)
    parser.add_argument("--runner")
    parser.add_argument("--dask_connection_timeout")
    parser.add_argument("--direct_running_mode")
    parser.add_argument("--direct_num_workers")
    return parser.parse_known_args(list(beam_args))[0]


def is_runner(name: Optional[str], runner: str) -> bool:
    """Whether a ``--runner`` value names ``runner`` (``"Direct"``, ``"Dataflow"``) as Beam takes it:
    short, full class name or module path, in any case."""
    name = (name or "").lower()
    return name == runner.lower() or name.endswith(f"{runner.lower()}runner")


def names_dask(beam_args: Sequence[str]) -> bool:
    """Whether ``beam_args`` choose DaskRunner; Beam is not loaded."""
    return beam_flags(beam_args).runner in DASK_RUNNER_NAMES


def check_dask_timeout(beam_args: Sequence[str]) -> None:
    """``--dask_connection_timeout`` must be whole seconds: Beam reads any other value as "not
    given", so the client would wait Dask's default without a word."""
    value = beam_flags(beam_args).dask_connection_timeout
    if value is None:
        return
    try:
        int(value)
    except ValueError:
        raise UserError(f"--dask_connection_timeout must be whole seconds, got {value!r}") from None


def check_runner_name(beam_args: Sequence[str]) -> None:
    """The ``--runner`` Beam knows, without building a pipeline: Beam's option validation for
    DataflowRunner looks up (and may create) GCS buckets, which a compile on a laptop must not do."""
    from apache_beam.runners.runner import create_runner

    name = beam_flags(beam_args).runner
    if name is None or name in DASK_RUNNER_NAMES:
        return
    try:
        create_runner(name)
    except (ValueError, ImportError) as e:
        raise UserError(f"Beam options {list(beam_args)}: {first_line(str(e))}") from None


def check_flag_names(beam_args: Sequence[str]) -> None:
    """Beam flags Beam would drop or stop on, refused in one line before any pipeline. Where the runner runs
    in this process (DirectRunner, the default, and DaskRunner), a near miss of a flag Beam declares
    (``--runer=DataflowRunner``), with the flag meant: Beam drops it with a log line ("Discarding unparseable
    args"), so the whole pipeline ran on the DirectRunner, possibly for hours. Only near misses: TFX reads
    its own flags (``--tfxio_use_byte_size_batching``) from the same list, and runners in other processes
    (Dataflow, Flink, Spark, portable) receive the flags Python does not declare (their Java options). On
    every runner, an abbreviation of several flags (``--run=``, which Beam drops too) and a value Beam cannot
    read (``--direct_num_workers=two``: Beam's usage listing of every option, and exit)."""
    import difflib
    import importlib

    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class Parser(_BeamArgumentParser):
        def error(self, message):  # also "ambiguous option: --run=... could match --runner, ...", which Beam drops
            raise UserError(f"Beam options: {message}")

    try:
        importlib.import_module("apache_beam.runners.dask.dask_runner")  # declares DaskOptions, as in Dask's process
    except ImportError:  # make_pipeline says what DaskRunner needs
        pass
    parser = Parser(add_help=False)
    for cls in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():  # as Beam collects them
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    found, dropped = parser.parse_known_args(list(beam_args))
    if found.runner is not None and not is_runner(found.runner, "Direct") and found.runner not in DASK_RUNNER_NAMES:
        return
    known = [flag for action in parser._actions for flag in action.option_strings]  # pylint: disable=protected-access
    meant = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.85)
             for name in (arg.split("=", 1)[0] for arg in dropped if arg.startswith("--"))}
    wrong = [f"{name} is no flag Beam declares (did you mean {close[0]}?)" for name, close in meant.items() if close]
    if wrong:
        raise UserError(f"Beam options: {'; '.join(wrong)}: Beam would drop it with a log line and run without")


def make_pipeline(beam_args: Optional[Iterable[str]] = None) -> "beam.Pipeline":
    """A Beam pipeline for ``beam_args`` (``--runner=...`` and that runner's flags)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    args = list(beam_args or [])
    beam_flags(args)  # refuses an item Beam would drop
    check_flag_names(args)
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
        reasons = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())  # Beam lists several
        raise UserError(f"Beam options {args}: {reasons}") from None


def portable_key(text: str) -> int:
    """``text`` as a GroupByKey key that groups alike in every worker process: equal texts give
    equal ints, and an int's ``hash()`` is the same everywhere. DaskRunner partitions groups by
    ``hash()``, which for str is salted per process (PYTHONHASHSEED): a str key would land in
    several groups, one per worker that saw it."""
    return int.from_bytes(text.encode("utf-8"), "big")
