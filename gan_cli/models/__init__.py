"""Architectures: one file per model, each with a `build(data_shape, **cfg) -> (G, D)`."""
