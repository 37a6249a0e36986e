"""Domain-transfer stage: the bidirectional loop of Algorithm 1 between video frames and web images, and the
LAF scores it gives every frame."""
