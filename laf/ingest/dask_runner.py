"""Beam 2.59's DaskRunner made usable on a ``dask.distributed`` cluster (``laf.ingest.runners``
builds it for ``--runner=DaskRunner``). What it fixes, measured here:
- with ``--runner`` among the options, Beam's runner hands every non-default option (``runner``,
  ``setup_file``, TFX's ``labels``, ...) to ``distributed.Client``, which rejects them: here the
  client gets only the ``--dask_*`` options (``--dask_client_address=tcp://HOST:8786`` reaches a
  running cluster; without it, ``distributed.Client()`` starts a local one for the run);
- it gathers every intermediate collection back to the driver (all features of a video run):
  here only the final collections are computed, and the client is closed when the run ends.
What it does not fix: ParDo runs as ``DoFn.process`` alone (no ``setup``/bundles, no side
inputs, no tagged outputs, no windows, no metrics), and GroupByKey partitions by ``hash()``
(``laf.ingest.runners.portable_key``). The ingestion pipelines keep to that subset.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunner, DaskRunnerResult

from laf.errors import UserError

# What DaskOptions parses (their ``dest``s), i.e. what distributed.Client accepts of the options.
_CLIENT_ARGUMENTS = ("address", "timeout", "scheduler_file", "name", "connection_limit")


class _ClosingResult(DaskRunnerResult):
    """Beam's result, closing the client (and a cluster it started) once the run is over."""

    def wait_until_finish(self, duration: Optional[int] = None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            self.client.close()


SCHEDULER_FILE_WAIT = 30.0  # seconds, Dask's own default connect timeout


def _wait_for_scheduler_file(path: Optional[str], timeout: Optional[int]) -> None:
    """A scheduler started beside the run writes its file soon (the HPC pattern Dask waits for); Dask
    waits without a limit, so a mistyped path hung the run without a word. Waited for up to
    ``--dask_connection_timeout`` seconds (default 30), then refused in one line."""
    if not path:
        return
    deadline = time.monotonic() + (SCHEDULER_FILE_WAIT if timeout is None else float(timeout))
    while not os.path.isfile(path):
        if time.monotonic() >= deadline:
            raise UserError(f"--dask_scheduler_file: {path} does not exist (the file a scheduler started with"
                            " --scheduler-file writes)")
        time.sleep(0.2)


class ClusterDaskRunner(DaskRunner):
    """Beam 2.59's DaskRunner with the client built from the ``--dask_*`` options alone and only
    the pipeline's final collections computed (their inputs are computed on the way)."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: PipelineOptions) -> DaskRunnerResult:
        import dask.distributed as ddist
        from apache_beam.runners.dask.overrides import dask_overrides

        given = options.view_as(DaskOptions).get_all_options(drop_default=True)
        arguments = {k: v for k, v in given.items() if k in _CLIENT_ARGUMENTS}
        _wait_for_scheduler_file(arguments.get("scheduler_file"), arguments.get("timeout"))
        try:
            client = ddist.Client(**arguments)
        except (OSError, ValueError) as e:  # OSError, TimeoutError: no scheduler there; ValueError: "unknown
            # address scheme 'http'" (the dashboard's URL)
            raise UserError(f"cannot reach the Dask scheduler ({arguments}): {e}") from None
        try:
            pipeline.replace_all(dask_overrides())
            visitor = self.to_dask_bag_visitor()
            pipeline.visit(visitor)
            consumed = {pcoll.producer for node in visitor.bags for pcoll in node.inputs}
            finals = [bag for node, bag in visitor.bags.items() if node not in consumed]
            return _ClosingResult(client, client.compute(finals))
        except BaseException:
            client.close()  # a client without an address started a local cluster: do not leave it running
            raise
