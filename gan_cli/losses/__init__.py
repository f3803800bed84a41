"""GAN objectives, one per file, behind the phase interface in `base.py`."""

from gan_cli.losses.base import GANLoss

__all__ = ["GANLoss"]
