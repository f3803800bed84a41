"""The loss interface (as in stylegan2-ada-pytorch's training/loss.py, by phase).

For each D update the trainer calls `d_loss(real_scores, fake_scores)`, for each G update
`g_loss(fake_scores, real_scores)`. Scores are D's raw outputs (logits or critic values, shape
(B,)); each loss owns its link function and uses a numerically stable form of it (softplus,
never log(sigmoid(x))). `real_scores` in the G step are D's scores of the last real batch,
computed only for losses that set `uses_real_in_g` (the relativistic ones). Anything else a
loss wants to show goes through `self.report(name, tensor)`, which reaches TensorBoard and
metrics.jsonl at the next log step. Regularisers and other tricks are stabilisers, not losses.
A new loss is a subclass in its own file, `@register("loss")`, plus a YAML file in conf/loss/.
"""

from __future__ import annotations

from torch import Tensor


class GANLoss:
    uses_real_in_g = False  # does g_loss need D's scores of real samples?

    def report(self, name: str, value: Tensor) -> None:
        """Replaced by the trainer with its statistics collector (stats.py)."""

    def d_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        """What D minimises on one batch of real and one batch of generated samples."""
        raise NotImplementedError

    def g_loss(self, fake_scores: Tensor, real_scores: Tensor | None = None) -> Tensor:
        """What G minimises, given D's scores of G's samples (and of real ones if asked)."""
        raise NotImplementedError
