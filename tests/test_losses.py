"""Each objective against values computed by hand, and the saturation that tells them apart."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_cli.losses.hinge import Hinge
from gan_cli.losses.least_squares import LeastSquares
from gan_cli.losses.minimax import Minimax
from gan_cli.losses.non_saturating import NonSaturating
from gan_cli.losses.relativistic import (
    RelativisticAverage,
    RelativisticAverageHinge,
    RelativisticPairing,
)
from gan_cli.losses.wasserstein import Wasserstein
from gan_cli.stabilizers.gradient_penalty import GradientPenalty, gradient_penalty
from gan_cli.stabilizers.weight_clip import WeightClip

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:  # log(1 + e^x), by hand
    return math.log1p(math.exp(x))


def mean(*xs: float) -> float:
    return sum(xs) / len(xs)


# D's objective for minimax and non-saturating: -log sigmoid(r) - log(1 - sigmoid(f))
BCE_D = mean(softplus(-2.0), softplus(1.0)) + mean(softplus(0.5), softplus(-3.0))

# Relativistic: mean real score 0.5, mean fake score -1.25. Each real score minus the fake mean:
# 3.25, 0.25; each fake score minus the real mean: 0.0, -3.5; pairwise fake - real: -1.5, -2.0.
CASES = [
    # loss, expected D loss, expected G loss
    (Minimax(), BCE_D, -mean(softplus(0.5), softplus(-3.0))),  # log(1 - D(G(z)))
    (NonSaturating(), BCE_D, mean(softplus(-0.5), softplus(3.0))),  # -log D(G(z))
    (Wasserstein(), mean(0.5, -3.0) - mean(2.0, -1.0), -mean(0.5, -3.0)),
    (Hinge(), mean(0.0, 2.0) + mean(1.5, 0.0), -mean(0.5, -3.0)),
    # (D(x) - 1)^2 / 2 + D(G(z))^2 / 2 and (D(G(z)) - 1)^2 / 2
    (LeastSquares(), (mean(1.0, 4.0) + mean(0.25, 9.0)) / 2, mean(0.25, 16.0) / 2),
    # D: softplus(-(r - mean f)) + softplus(f - mean r); G: the same with the roles swapped
    (
        RelativisticAverage(),
        mean(softplus(-3.25), softplus(-0.25)) + mean(softplus(0.0), softplus(-3.5)),
        mean(softplus(-0.0), softplus(3.5)) + mean(softplus(3.25), softplus(0.25)),
    ),  # fmt: skip
    # D: relu(1 - (r - mean f)) + relu(1 + (f - mean r)); G: the roles swapped
    (
        RelativisticAverageHinge(),
        mean(0.0, 0.75) + mean(1.0, 0.0),
        mean(1.0, 4.5) + mean(4.25, 1.25),
    ),  # fmt: skip
    # D: softplus(f_i - r_i); G: softplus(r_i - f_i)
    (
        RelativisticPairing(),
        mean(softplus(-1.5), softplus(-2.0)),
        mean(softplus(1.5), softplus(2.0)),
    ),  # fmt: skip
]
IDS = ["minimax", "non_saturating", "wasserstein", "hinge", "least_squares", "ragan", "rahinge",
       "rpgan"]  # fmt: skip


@pytest.mark.parametrize(("loss", "d_expected", "g_expected"), CASES, ids=IDS)
def test_values_match_hand_computation(loss, d_expected, g_expected):
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    real = REAL if loss.uses_real_in_g else None
    assert loss.g_loss(FAKE, real).item() == pytest.approx(g_expected, rel=1e-6)


def test_only_the_relativistic_losses_need_real_scores_in_the_g_step():
    needs = {name for (loss, *_), name in zip(CASES, IDS, strict=True) if loss.uses_real_in_g}
    assert needs == {"ragan", "rahinge", "rpgan"}


def test_relativistic_g_loss_depends_on_the_real_scores():
    for loss in (RelativisticAverage(), RelativisticAverageHinge(), RelativisticPairing()):
        assert loss.g_loss(FAKE, REAL).item() != loss.g_loss(FAKE, REAL + 1.0).item()


def test_minimax_values_are_the_log_sigmoid_definitions():
    sig = torch.sigmoid
    expected_d = -(sig(REAL).log().mean() + (1 - sig(FAKE)).log().mean())
    expected_g = (1 - sig(FAKE)).log().mean()
    assert Minimax().d_loss(REAL, FAKE).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert Minimax().g_loss(FAKE).item() == pytest.approx(expected_g.item(), rel=1e-6)


def g_grad(loss, score: float) -> float:
    fake = torch.tensor([score], requires_grad=True)
    loss.g_loss(fake).backward()
    return fake.grad.item()


def test_minimax_generator_gradient_saturates_where_d_rejects_fakes():
    # D(G(z)) = sigmoid(-20) ~ 2e-9: the minimax G gradient -sigmoid(f) all but vanishes ...
    assert abs(g_grad(Minimax(), -20.0)) < 1e-8
    # ... while the non-saturating one, -sigmoid(-f), is close to its largest value.
    assert g_grad(NonSaturating(), -20.0) == pytest.approx(-1.0, abs=1e-8)
    # Where D is fooled the roles swap: minimax pushes hard, non-saturating barely.
    assert g_grad(Minimax(), 20.0) == pytest.approx(-1.0, abs=1e-8)
    assert abs(g_grad(NonSaturating(), 20.0)) < 1e-8


@pytest.mark.parametrize("loss", [Minimax(), NonSaturating()], ids=["minimax", "non_sat"])
def test_logistic_losses_are_finite_for_extreme_scores(loss):
    big = torch.tensor([200.0, -200.0])
    assert torch.isfinite(loss.d_loss(big, -big)) and torch.isfinite(loss.d_loss(-big, big))
    assert torch.isfinite(loss.g_loss(big)) and torch.isfinite(loss.g_loss(-big))
    # -log sigmoid(-200) is 200, not inf as log(sigmoid(x)) in float32 would give
    assert loss.d_loss(torch.tensor([-200.0]), torch.tensor([-200.0])).item() == pytest.approx(200)


class Linear(nn.Module):
    """A critic D(x) = w . x whose gradient norm is |w| everywhere."""

    def __init__(self, w: list[float]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return x @ self.w


def test_gradient_penalty_of_a_linear_critic():
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(16.0)  # (5-1)^2
    assert gradient_penalty(Linear([0.6, 0.8]), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(Linear([3.0, 4.0]), real, fake, target=0).item() == pytest.approx(25.0)

    class Seam:  # what the stabiliser calls: the GAN's run_D, here the bare critic
        run_D_twice_differentiable = Linear([3.0, 4.0])
        samples_per_score = 1

    penalty = GradientPenalty(weight=10.0).d_penalty(Seam(), real, fake)
    assert penalty.item() == pytest.approx(160.0)


class HalfSquaredNorm(nn.Module):
    """D(x) = s * |x|^2 / 2, whose gradient s * x depends on where it is taken."""

    def __init__(self, s: float = 1.0):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, x):
        return self.s * x.pow(2).sum(dim=1) / 2


def test_gradient_penalty_is_taken_on_random_points_between_real_and_fake():
    real, fake = torch.randn(64, 3), torch.randn(64, 3) + 2.0
    torch.manual_seed(5)
    got = gradient_penalty(HalfSquaredNorm(), real, fake).item()
    torch.manual_seed(5)
    eps = torch.rand(64, 1)  # the penalty's own draw, repeated
    x_hat = eps * real + (1 - eps) * fake
    assert got == pytest.approx(((x_hat.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    # not at the real points, the fake points or their midpoints
    for wrong in (real, fake, (real + fake) / 2):
        assert got != pytest.approx(((wrong.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-3)


def test_gradient_penalty_reaches_the_critic_weights():
    critic = Linear([3.0, 4.0])
    gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2)).backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| = 2 * 4 * (0.6, 0.8)
    assert torch.allclose(critic.w.grad, torch.tensor([4.8, 6.4]))


def test_weight_clipping_keeps_the_critic_in_the_box():
    critic = Linear([3.0, -0.004])
    WeightClip(clip=0.01).after_d_step(critic)
    assert critic.w.tolist() == pytest.approx([0.01, -0.004])
    critic.w.data = torch.tensor([-5.0, 0.5])
    WeightClip(clip=0.1).after_d_step(critic)
    assert critic.w.tolist() == pytest.approx([-0.1, 0.1])
