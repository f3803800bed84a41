"""Stabilisers: techniques that work with any loss and model, one per file, combined freely
(`gan train stabilizers=[spectral_norm,diffaugment,ema]`). Each subclasses `Stabilizer`
(base.py) and uses the hooks it needs."""

from gan_cli.stabilizers.base import Stabilizer

__all__ = ["Stabilizer"]
