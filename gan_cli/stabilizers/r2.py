"""R2 (Mescheder et al. 2018): R1's penalty on generated samples. R1 + R2 is R3GAN's recipe."""

from __future__ import annotations

from gan_cli.registry import register
from gan_cli.stabilizers.r1 import R1


@register("stabilizer")
class R2(R1):
    on = "fake"
