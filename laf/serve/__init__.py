"""Serving stage: localizing new videos with a pushed model, locally or through TF Serving."""
