"""Each objective against values computed by hand, and the saturation that tells them apart."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_cli.losses.hinge import Hinge
from gan_cli.losses.minimax import Minimax
from gan_cli.losses.non_saturating import NonSaturating
from gan_cli.losses.wasserstein import Wasserstein, gradient_penalty

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:  # log(1 + e^x), by hand
    return math.log1p(math.exp(x))


def mean(*xs: float) -> float:
    return sum(xs) / len(xs)


# D's objective for minimax and non-saturating: -log sigmoid(r) - log(1 - sigmoid(f))
BCE_D = mean(softplus(-2.0), softplus(1.0)) + mean(softplus(0.5), softplus(-3.0))

CASES = [
    # loss, expected D loss, expected G loss
    (Minimax(), BCE_D, -mean(softplus(0.5), softplus(-3.0))),  # log(1 - D(G(z)))
    (NonSaturating(), BCE_D, mean(softplus(-0.5), softplus(3.0))),  # -log D(G(z))
    (Wasserstein(), mean(0.5, -3.0) - mean(2.0, -1.0), -mean(0.5, -3.0)),
    (Hinge(), mean(0.0, 2.0) + mean(1.5, 0.0), -mean(0.5, -3.0)),
]


@pytest.mark.parametrize(
    ("loss", "d_expected", "g_expected"),
    CASES,
    ids=["minimax", "non_saturating", "wasserstein", "hinge"],
)
def test_values_match_hand_computation(loss, d_expected, g_expected):
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


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
    wgan_gp = Wasserstein(lipschitz="gp", gp_weight=10.0)
    assert wgan_gp.d_penalty(Linear([3.0, 4.0]), real, fake).item() == pytest.approx(160.0)
    assert Wasserstein(lipschitz="clip").d_penalty(Linear([3.0, 4.0]), real, fake) is None


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
    Wasserstein(lipschitz="clip", clip_value=0.01).after_d_step(critic)
    assert critic.w.tolist() == pytest.approx([0.01, -0.004])
    Wasserstein(lipschitz="gp").after_d_step(critic)  # no clipping with a gradient penalty
    assert critic.w.tolist() == pytest.approx([0.01, -0.004])
