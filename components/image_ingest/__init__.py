"""TFX component: web images -> Examples of shared CNN features, optionally in the video vocabulary."""
