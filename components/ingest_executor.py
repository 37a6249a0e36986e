"""Base of the ingestion executors: TFX's Beam pipeline, plus DaskRunner by name."""
from tfx.dsl.components.base import base_beam_executor

from laf.ingest import runners


class IngestExecutor(base_beam_executor.BaseBeamExecutor):
    """``_make_beam_pipeline`` as TFX builds it (``beam_pipeline_args``, and the launcher's own
    pipeline factory when it sets one), except ``--runner=DaskRunner``: Beam 2.59 does not register
    that name, so ``laf.ingest.runners`` builds it on the cluster the ``--dask_*`` flags name."""

    def _make_beam_pipeline(self):
        if self._make_beam_pipeline_fn is None and runners.names_dask(self._beam_pipeline_args):
            return runners.make_pipeline(self._beam_pipeline_args)
        return super()._make_beam_pipeline()
