"""ValidationGate: fail the run, readably, when ExampleValidator found anomalies.

ExampleValidator only records anomalies; downstream components are made to depend on this
gate so that data violating ``schemas/`` never reaches domain transfer or training.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.validation_gate import executor


class ValidationGateSpec(types.ComponentSpec):
    PARAMETERS = {"dataset_name": component_spec.ExecutionParameter(type=str),
                  "code_version": component_spec.ExecutionParameter(type=str, optional=True)}  # pipeline.code_version
    INPUTS = {"anomalies": component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS = {}


class ValidationGate(base_component.BaseComponent):
    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.BaseChannel, dataset_name: str, code_version: str = ""):
        super().__init__(spec=ValidationGateSpec(anomalies=anomalies, dataset_name=dataset_name,
                                                 code_version=code_version))
