"""Evaluation stage: reading a finished run's records and models, and learning diagnostics."""
