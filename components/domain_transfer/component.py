"""DomainTransfer: ``laf.transfer.domain_transfer`` (paper §3.2, Algorithm 1) as a TFX component.

Inputs: the ingested video Examples (``train`` = training frames, ``eval`` = validation videos
of the stopping rule), the image Examples and the LabelVocabulary. Outputs: ``laf_model`` (CNN_i
as a SavedModel over feature vectors), ``scored_examples`` (the video splits with a per-frame
``laf_score`` list added) and ``rounds`` (``rounds.json``, ``floor_cases.json``,
``image_filter.json`` and TensorBoard scalars, so ``tensorboard --logdir <pipeline root>`` shows the
rounds).
"""
from typing import List, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.artifacts import DomainTransferRounds, LabelVocabulary
from components.domain_transfer import executor
from laf.transfer.config import TransferConfig

DEFAULTS = TransferConfig()
P = component_spec.ExecutionParameter
C = component_spec.ChannelParameter


class DomainTransferSpec(types.ComponentSpec):
    PARAMETERS = {
        "theta1": P(type=float),
        "theta2": P(type=float),
        "max_rounds": P(type=int),
        "hidden_units": P(type=List[int]),
        "epochs": P(type=int),
        "batch_size": P(type=int),
        "min_images_per_class": P(type=int),
        "min_frames_per_class": P(type=int, optional=True),
        "learning_rate": P(type=float, optional=True),
        "svm_epochs": P(type=int, optional=True),
        "seed": P(type=int),
        "code_version": P(type=str, optional=True),  # pipeline.code_version: new code, new cache key
    }
    INPUTS = {
        "videos": C(type=standard_artifacts.Examples),
        "images": C(type=standard_artifacts.Examples),
        "vocabulary": C(type=LabelVocabulary),
    }
    OUTPUTS = {
        "laf_model": C(type=standard_artifacts.Model),
        "scored_examples": C(type=standard_artifacts.Examples),
        "rounds": C(type=DomainTransferRounds),
    }


class DomainTransfer(base_component.BaseComponent):
    SPEC_CLASS = DomainTransferSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, videos: types.BaseChannel, images: types.BaseChannel, vocabulary: types.BaseChannel,
                 theta1: float = DEFAULTS.theta1, theta2: float = DEFAULTS.theta2,
                 max_rounds: int = DEFAULTS.max_rounds, hidden_units: Optional[List[int]] = None,
                 epochs: int = DEFAULTS.epochs,
                 batch_size: int = DEFAULTS.batch_size, min_images_per_class: int = DEFAULTS.min_images_per_class,
                 min_frames_per_class: int = DEFAULTS.min_frames_per_class,
                 learning_rate: float = DEFAULTS.learning_rate, svm_epochs: int = DEFAULTS.svm_epochs,
                 seed: int = DEFAULTS.seed, code_version: str = ""):
        """Defaults: the library's (``laf.transfer.config.TransferConfig``), which are the
        pipeline config's."""
        hidden_units = DEFAULTS.hidden_units if hidden_units is None else hidden_units
        super().__init__(spec=DomainTransferSpec(
            videos=videos, images=images, vocabulary=vocabulary, theta1=float(theta1), theta2=float(theta2),
            max_rounds=int(max_rounds), hidden_units=[int(u) for u in hidden_units],
            epochs=int(epochs), batch_size=int(batch_size), min_images_per_class=int(min_images_per_class),
            min_frames_per_class=int(min_frames_per_class), learning_rate=float(learning_rate),
            svm_epochs=int(svm_epochs), seed=int(seed), code_version=code_version,
            laf_model=types.Channel(type=standard_artifacts.Model),
            scored_examples=types.Channel(type=standard_artifacts.Examples),
            rounds=types.Channel(type=DomainTransferRounds)))
