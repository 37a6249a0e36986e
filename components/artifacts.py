"""Custom artifact types shared by the LAF components."""
from tfx import types

from schemas import names


class LabelVocabulary(types.Artifact):
    """Directory holding ``labels.json``: the label vocabulary and activity -> actions hierarchy."""

    TYPE_NAME = names.LABEL_VOCABULARY_TYPE


class DomainTransferRounds(types.Artifact):
    """Directory holding ``rounds.json``, ``floor_cases.json``, ``image_filter.json`` and TensorBoard
    scalars of the domain-transfer loop."""

    TYPE_NAME = names.DOMAIN_TRANSFER_ROUNDS_TYPE
