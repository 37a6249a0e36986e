"""Executor of ValidationGate: raise with one readable line per anomaly."""
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from laf.errors import UserError
from laf.ingest import validation


class DataValidationError(UserError):
    """The ingested data violates the schema in ``schemas/``: the user's data to fix, so the CLI
    prints the anomalies (LocalDagRunner re-raises the executor's own exception) without a traceback."""


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        artifact = artifact_utils.get_single_instance(input_dict["anomalies"])
        splits = artifact_utils.decode_split_names(artifact.split_names)
        if not splits:  # a launcher that dropped the artifact's metadata: nothing would be checked, and all pass
            raise DataValidationError(f"{exec_properties['dataset_name']} anomalies at {artifact.uri} name no split:"
                                      " the validation found nothing to check")
        problems = []
        for split in splits:
            path = os.path.join(artifact_utils.get_split_uri([artifact], split), "SchemaDiff.pb")
            problems += [f"[{split}] {line}" for line in validation.describe(validation.load(path))]
        if problems:
            raise DataValidationError(
                f"{exec_properties['dataset_name']} data violates the schema:\n  " + "\n  ".join(problems))
