"""Weakly supervised fine-grained action localization with web images and LSTMs (LAF).

Pure libraries (importable without TFX): domain transfer, localization/mAP, media
decoding, demo data. The TFX components in ``components/`` are thin adapters over them.
"""
__version__ = "0.1.0"

# The artifact types' KFP schema titles are "laf.<Type>" (schemas/names.py), and the Kubeflow/Vertex
# container entrypoint imports a custom type by its title: ``laf.LabelVocabulary``. Resolved lazily,
# so that importing ``laf`` still needs no TFX.
_ARTIFACT_TYPES = ("LabelVocabulary", "DomainTransferRounds")


def __getattr__(name: str):
    if name in _ARTIFACT_TYPES:
        from components import artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module 'laf' has no attribute {name!r}")
