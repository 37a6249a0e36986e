"""Weakly supervised fine-grained action localization with web images and LSTMs (LAF).

Pure libraries (importable without TFX): domain transfer, localization/mAP, media
decoding, demo data. The TFX components in ``components/`` are thin adapters over them.
"""
__version__ = "0.1.0"
