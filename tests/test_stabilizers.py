"""Stabilisers against hand-computed values, and every loss x stabiliser pair for one real
training step (or a one-line refusal where the pair makes no sense)."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from conftest import PLAIN, compose_train, spec_of, tiny
from omegaconf import OmegaConf
from test_config import choices
from torch import nn

from gan_cli.config import SCHEMAS
from gan_cli.config.loss import CriticLossConfig
from gan_cli.config.model import ImageModelConfig
from gan_cli.data.source import BatchStream, TensorSource
from gan_cli.errors import ConfigError
from gan_cli.gan import build_gan
from gan_cli.networks import build_networks
from gan_cli.runtime import Runtime
from gan_cli.stabilizers import diffaugment
from gan_cli.stabilizers.ema import EMA, ema_beta
from gan_cli.stabilizers.packing import Packing
from gan_cli.stabilizers.r1 import R1
from gan_cli.stabilizers.r2 import R2
from gan_cli.stabilizers.spectral_norm import SpectralNorm
from gan_cli.stabilizers.top_k import top_k_fraction

CPU = Runtime(torch.device("cpu"))


class HalfSquaredNorm(nn.Module):
    """D(x) = s |x|^2 / 2 per sample, whose input gradient is s x."""

    def __init__(self, s: float):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, x):
        return self.s * x.flatten(1).pow(2).sum(dim=1) / 2


class Seam:
    """The part of the GAN a penalty calls."""

    def __init__(self, D):
        self.run_D_twice_differentiable, self.samples_per_score = D, 1


def test_r1_and_r2_match_a_critic_with_a_known_input_gradient():
    real, fake = torch.randn(16, 3, 4, 4), torch.randn(16, 3, 4, 4) * 3
    D = HalfSquaredNorm(2.0)
    r1, r2 = R1(gamma=10.0), R2(gamma=10.0)
    # gamma/2 * E||s x||^2, on the real samples for R1 and the generated ones for R2
    want_r1 = 5.0 * (4.0 * real.flatten(1).pow(2).sum(1)).mean()
    want_r2 = 5.0 * (4.0 * fake.flatten(1).pow(2).sum(1)).mean()
    assert r1.d_penalty(Seam(D), real, fake).item() == pytest.approx(want_r1.item(), rel=1e-5)
    assert r2.d_penalty(Seam(D), real, fake).item() == pytest.approx(want_r2.item(), rel=1e-5)
    # the penalty trains D: d/ds of 5 E||s x||^2 = 10 s E||x||^2
    D.zero_grad()
    r1.d_penalty(Seam(D), real, fake).backward()
    assert D.s.grad.item() == pytest.approx(20.0 * real.flatten(1).pow(2).sum(1).mean().item(),
                                            rel=1e-5)  # fmt: skip


def test_spectral_norm_brings_every_layers_largest_singular_value_to_one():
    cfg, _ = spec_of("model.g_width=16", "model.d_width=16", *PLAIN)
    torch.manual_seed(0)
    G, D = build_networks(cfg.model, [SpectralNorm(generator=True)], (3, 32, 32))
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        for _ in range(200):  # power iterations run at each training forward pass
            D(x), G(torch.randn(8, G.latent_dim))
    layers = [m for net in (G, D) for m in net.modules()
              if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]  # fmt: skip
    assert len(layers) == 4 + 4  # 32 px: four transposed convolutions in G, four in D
    for m in layers:
        w = m.weight  # the normalised weight
        dim = 1 if isinstance(m, nn.ConvTranspose2d) else 0
        matrix = w.transpose(0, dim).reshape(w.shape[dim], -1)
        assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=0.02)
        raw = m.parametrizations.weight.original.transpose(0, dim).reshape(w.shape[dim], -1)
        assert torch.linalg.matrix_norm(raw, ord=2).item() != pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("op", list(diffaugment.OPS))
def test_each_augmentation_changes_images_and_passes_gradients(op):
    torch.manual_seed(0)
    x = (torch.rand(16, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = diffaugment.OPS[op](x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_and_cutout_move_and_blank_pixels_as_specified():
    torch.manual_seed(1)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(50, 1, 1, 1)
    moved = diffaugment.translation(x, ratio=0.125)  # by -1, 0 or 1 pixel each way
    for image in moved:
        found = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if torch.equal(image[0, 2:6, 2:6], x[0, 0, 2 - dy : 6 - dy, 2 - dx : 6 - dx])
        ]
        assert len(found) == 1
    holes = diffaugment.cutout(torch.ones(50, 1, 8, 8), ratio=0.5)
    zeros = (holes == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() > 0  # a 4x4 square, clipped at the borders


def test_diffaugment_applies_one_policy_to_reals_and_fakes_and_g_learns_through_it():
    cfg, spec = spec_of(*tiny("stabilizers=[diffaugment]"))
    gan = build_gan(cfg, spec, (1, 32, 32), CPU)
    (aug,) = gan.stabilizers
    seen: list[tuple[str, int]] = []

    def recording(name, op):
        def run(x):
            seen.append((name, x.shape[0]))
            return op(x)

        return run

    aug.ops = [recording(name, op) for name, op in diffaugment.OPS.items()]
    real = torch.rand(16, 1, 32, 32) * 2 - 1
    gan.d_step(real, keep_graph=False)
    # every op once on the real batch and once on the generated one, in the policy's order
    assert seen == [(n, 16) for n in diffaugment.OPS] * 2
    seen.clear()
    gan.G.zero_grad()
    gan.run_D(gan.run_G(gan.noise(16))).mean().backward()
    assert [n for n, _ in seen] == list(diffaugment.OPS)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.G.parameters())


def test_adaptive_augmentation_probability_follows_the_overfitting_heuristic():
    aug = diffaugment.DiffAugment(adaptive=True, target=0.6, interval=2, adjust_images=640)

    class Tiny:
        batch_size, rt = 32, CPU

    aug.attach(Tiny())
    for _ in range(2):  # D sure of the reals: r_t = 1 > 0.6, p goes up by 32 * 2 / 640
        aug.observe_real(torch.ones(32))
    assert aug.p.item() == pytest.approx(0.1)
    for _ in range(2):  # r_t = -1 < 0.6: down again, never below 0
        aug.observe_real(-torch.ones(32))
    for _ in range(2):
        aug.observe_real(-torch.ones(32))
    assert aug.p.item() == 0.0
    aug.observe_real(torch.ones(32))  # half an interval: kept for a resume
    state = aug.state_dict()
    again = diffaugment.DiffAugment(adaptive=True, interval=2, adjust_images=640)
    again.attach(Tiny())
    again.load_state_dict(state)
    again.observe_real(torch.ones(32))
    assert again.p.item() == pytest.approx(0.1)


def test_packing_stacks_consecutive_samples_along_channels_and_d_is_built_for_it():
    pack = Packing(m=2)
    x = torch.randn(6, 3, 8, 8)
    packed = pack.d_input(x)
    assert packed.shape == (3, 6, 8, 8)
    for i in range(3):
        assert torch.equal(packed[i], torch.cat([x[2 * i], x[2 * i + 1]]))
    points = torch.randn(9, 2)
    assert torch.equal(Packing(m=3).d_input(points)[1], points[3:6].flatten())
    cfg, spec = spec_of(*tiny("stabilizers=[packing]"))
    gan = build_gan(cfg, spec, (1, 32, 32), CPU)
    assert gan.D.net[0].in_channels == 2 and gan.G(gan.noise(4)).shape == (4, 1, 32, 32)
    assert gan.run_D(torch.randn(16, 1, 32, 32)).shape == (8,)


def test_ema_warm_up_schedule():
    # StyleGAN2: half-life min(10k, 0.05 x images seen); beta = 0.5 ** (batch / half-life)
    assert ema_beta(64, 64, 10_000, 0.05) == pytest.approx(0.5 ** (64 / 3.2))
    assert ema_beta(100_000, 64, 10_000, 0.05) == pytest.approx(0.5 ** (64 / 5_000))
    assert ema_beta(10_000_000, 64, 10_000, 0.05) == pytest.approx(0.5 ** (64 / 10_000))
    assert ema_beta(64, 64, 10_000, None) == pytest.approx(0.5 ** (64 / 10_000))

    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25", "stabilizers=[ema]"))
    gan = build_gan(cfg, spec, (2,), CPU)
    (ema,) = gan.stabilizers
    assert isinstance(ema, EMA) and gan.sampler is ema.sampler and gan.sampler is not gan.G
    start = [p.clone() for p in gan.G.parameters()]
    batches = BatchStream(TensorSource(torch.randn(256, 2), "pts"), 16, 0, CPU.device)
    gan.step(batches)  # the first average is (almost) G itself: the ramp-up at work
    for a, g in zip(gan.sampler.parameters(), gan.G.parameters(), strict=True):
        assert torch.allclose(a, g, atol=1e-6)
    for _ in range(20):
        gan.step(batches)
    previous = [p.clone() for p in gan.sampler.parameters()]
    gan.step(batches)  # the 22nd update: towards G's new weights by 1 - beta
    beta = ema_beta(22 * 16, 16, spec.stabilizers["ema"].half_life, 0.05)
    assert 0.5 < beta < 1
    for a, old, g in zip(gan.sampler.parameters(), previous, gan.G.parameters(), strict=True):
        assert torch.allclose(a, beta * old + (1 - beta) * g, atol=1e-6)
    assert any(not torch.allclose(a, s) for a, s in zip(gan.sampler.parameters(), start,
                                                        strict=True))  # fmt: skip


def test_top_k_gives_g_gradients_only_from_its_best_scored_samples_on_its_schedule():
    # Sinha et al. 2020: k = max(nu, gamma ** periods) x batch, a period being `period` images
    assert top_k_fraction(99, 0.9, 0.5, 100) == 1.0
    assert top_k_fraction(250, 0.9, 0.5, 100) == pytest.approx(0.81)
    assert top_k_fraction(10**6, 0.9, 0.5, 100) == 0.5
    schedule = ["stabilizers.top_k.gamma=0.5", "stabilizers.top_k.period=16"]
    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25", "stabilizers=[top_k]", *schedule))
    gan = build_gan(cfg, spec, (2,), CPU)
    (top_k,) = gan.stabilizers
    seen: list[int] = []
    keep = top_k.g_scores
    top_k.g_scores = lambda scores: seen.append(len(scores)) or keep(scores)  # the G step's call
    batches = BatchStream(TensorSource(torch.randn(256, 2), "pts"), 16, 0, CPU.device)
    gan.step(batches)  # the first G update learns from the whole batch ...
    gan.step(batches)  # ... the second from the top half: 16 images made, one period
    assert seen == [16, 16] and top_k.updates == 2
    x = torch.randn(16, 2, requires_grad=True)
    scores = gan.D(x)
    gan.loss.g_loss(keep(scores)).backward()
    best = scores.detach().argsort(descending=True)
    assert top_k_fraction(32, 0.5, 0.5, 16) == 0.5
    assert (x.grad[best[:8]].abs().sum(1) > 0).all()  # the 8 most realistic move ...
    assert (x.grad[best[8:]] == 0).all()  # ... the others give G nothing
    top_k.load_state_dict({"updates": 0})  # a resume restores the schedule's clock
    assert len(keep(scores)) == 16


def lazy_steps(gan, stabilizer, hook: str, counter: str, batches, steps: int = 8):
    """Run `steps` GAN steps, recording when the stabiliser's penalty (`hook`) ran (the value of
    the GAN's `counter` then), what it returned, and what the lazy update minimised."""
    calls, returned, stepped = [], [], []
    penalty, lazy_update = getattr(stabilizer, hook), gan._lazy_update

    def counted(*args):
        calls.append(getattr(gan, counter))
        returned.append(penalty(*args))
        return returned[-1]

    def recorded(opt, scaler, net, terms):
        stepped.extend(t.detach() for part in terms for t in part)
        return lazy_update(opt, scaler, net, terms)

    setattr(stabilizer, hook, counted)
    gan._lazy_update = recorded
    for _ in range(steps):
        gan.step(batches)
    return calls, torch.stack(returned).detach(), torch.stack(stepped)


@pytest.mark.parametrize("name", ["r1", "gradient_penalty"])
def test_lazy_regularisation_runs_every_k_d_steps_weighted_by_k_with_adam_rescaled(name):
    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25", f"stabilizers=[{name}]",
                              f"stabilizers.{name}.every=4", "optim.betas=[0.0,0.99]"))  # fmt: skip
    gan = build_gan(cfg, spec, (2,), CPU)
    (r1,) = gan.stabilizers
    batches = BatchStream(TensorSource(torch.randn(256, 2), "pts"), 16, 0, CPU.device)
    calls, returned, stepped = lazy_steps(gan, r1, "d_penalty", "d_updates", batches)
    assert calls == [4, 8]  # after the 4th and 8th D update, in their own step
    # weighted by k = 4 (StyleGAN2's rule: the k-th update stands for k), in the GAN's own step
    torch.testing.assert_close(stepped, 4 * returned)
    assert gan.d_every == 4 and gan.g_every == 1
    group = gan.opt_d.param_groups[0]
    assert group["lr"] == pytest.approx(spec.optim.lr_d * 4 / 5)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))
    assert gan.opt_g.param_groups[0]["lr"] == spec.optim.lr_g  # G has no lazy regulariser


def test_lazy_g_regularisation_runs_every_k_g_steps_weighted_by_k():
    """G's side of the same rule: path length every 4 G updates, in its own step, the penalty
    weighted by 4, and G's Adam rescaled by k/(k+1) as D's."""
    lazy = ("stabilizers=[path_length]", "stabilizers.path_length.every=4")
    cfg, spec = spec_of(*tiny("model=stylegan2", *PLAIN, *lazy, "optim.betas=[0.0,0.99]"))
    gan = build_gan(cfg, spec, (1, 32, 32), CPU)
    (pl,) = gan.stabilizers
    batches = BatchStream(TensorSource(torch.rand(64, 1, 32, 32) * 2 - 1, "img"), 8, 0, CPU.device)
    calls, returned, stepped = lazy_steps(gan, pl, "g_penalty", "g_updates", batches)
    assert calls == [4, 8]
    torch.testing.assert_close(stepped, 4 * returned)
    assert gan.g_every == 4 and gan.d_every == 1
    group = gan.opt_g.param_groups[0]
    assert group["lr"] == pytest.approx(spec.optim.lr_g * 4 / 5)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))


def test_a_lazy_penalty_step_is_weighted_by_its_interval():
    """The D update of the lazy step equals one with gamma * k at every step."""
    torch.manual_seed(0)
    real = torch.randn(16, 2)
    grads = []
    for gamma, every in ((1.0, 4), (4.0, 1)):
        D = HalfSquaredNorm(2.0)
        r1 = R1(gamma=gamma, every=every)
        term = r1.every * r1.d_penalty(Seam(D), real, real) if every > 1 else r1.d_penalty(
            Seam(D), real, real)  # fmt: skip
        (grad,) = torch.autograd.grad(term, D.s)
        grads.append(grad.item())
    assert grads[0] == pytest.approx(grads[1], rel=1e-6)


# ---------------------------------------------------------- every loss x every stabiliser
# Every model, loss and stabiliser in conf/, so one added there is covered without an edit here;
# what a pair may not do comes from the schemas' declarations (LIPSCHITZ, IMAGE_ONLY, ...).
LOSSES, STABILIZERS = choices("loss"), choices("stabilizers")
PENALTIES = {n for n in STABILIZERS if SCHEMAS["stabilizers"][n].GRADIENT_PENALTY}  # as declared
IMAGE_MODELS = [m for m in choices("model") if issubclass(SCHEMAS["model"][m], ImageModelConfig)]
SETTINGS = {  # name: (overrides, data shape): the models' plain defaults
    "mlp-2d": (["model=mlp", "experiment=grid25_mlp"], (2,)),
    **{m: ([f"model={m}", *PLAIN], (1, 32, 32)) for m in IMAGE_MODELS},
    "dcgan-layer": (["model=dcgan", *PLAIN, "model.d_norm=layer"], (1, 32, 32)),
}


@functools.cache
def node_type(setting: str, key: str, choice: str = "") -> tuple[type, dict]:
    """The schema and values a config node gets: the setting's model, a loss or a stabiliser."""
    overrides, _ = SETTINGS[setting]
    extra = {"loss": [f"loss={choice}"], "stabilizers": [f"stabilizers=[{choice}]"]}.get(key, [])
    node = compose_train(*overrides, *extra)[key]
    node = node[choice] if key == "stabilizers" else node
    return OmegaConf.get_type(node), dict(node)


def refusal(setting: str, loss: str, stabilizer: str) -> str | None:
    """Why a pair is refused (the start of the one-line message), or None: the rules of
    config/loss.py and config/stabilizer.py, applied to what each schema declares."""
    model, params = node_type(setting, "model")
    loss_schema, _ = node_type("mlp-2d", "loss", loss)
    stab, _ = node_type("mlp-2d", "stabilizers", stabilizer)
    if issubclass(loss_schema, CriticLossConfig) and not stab.LIPSCHITZ:
        return f"loss={loss} needs a Lipschitz constraint"
    if stab.IMAGE_ONLY and SETTINGS[setting][1] == (2,):
        return f"stabilizers=[{stabilizer}] works on images"
    if stab.GRADIENT_PENALTY and params.get("d_norm") == "batch":
        return f"model.d_norm=batch: stabilizers=[{stabilizer}]"
    if stab.NEEDS_MAPPING and not model.MAPPING:
        return f"stabilizers=[{stabilizer}] needs a generator with a mapping network"
    if stab.DROPS_SAMPLES and loss_schema.PAIRED:
        return f"stabilizers=[{stabilizer}] drops some of G's samples"
    return None


def case_wanted(setting: str, loss: str, stabilizer: str) -> bool:
    """Every pair on the MLP and the batch-norm DCGAN; on the other models every stabiliser
    with one loss and every loss with the stabilisers that matter most there."""
    if setting in ("mlp-2d", "dcgan"):
        return True
    if setting == "dcgan-layer":
        return stabilizer in PENALTIES
    return loss == "non_saturating" or stabilizer in {"r1", "path_length", "spectral_norm"}


CASES = [(setting, loss, stab) for setting in SETTINGS for loss in LOSSES for stab in STABILIZERS
         if case_wanted(setting, loss, stab)]  # fmt: skip


@pytest.mark.parametrize(("setting", "loss", "stabilizer"), CASES,
                         ids=["-".join(c) for c in CASES])  # fmt: skip
def test_every_loss_and_stabilizer_pair_trains_a_step_or_is_refused(setting, loss, stabilizer):
    overrides, shape = SETTINGS[setting]
    args = tiny(*overrides, f"loss={loss}", f"stabilizers=[{stabilizer}]", "optim.d_steps=2")
    why = refusal(setting, loss, stabilizer)
    if why:
        with pytest.raises(ConfigError) as info:
            spec_of(*args)
        assert str(info.value).startswith(why) and "\n" not in str(info.value)
        return
    torch.manual_seed(0)
    cfg, spec = spec_of(*args)
    gan = build_gan(cfg, spec, shape, CPU)
    n = 64
    data = (
        torch.randn(n, *shape)
        if len(shape) == 1
        else torch.randint(0, 256, (n, *shape), dtype=torch.uint8)
    )
    batches = BatchStream(TensorSource(data, "random"), spec.batch_size, 0, CPU.device)
    before = [p.detach().clone() for p in (*gan.G.parameters(), *gan.D.parameters())]
    gan.step(batches)
    reported = gan.stats.flush()
    assert all(math.isfinite(v) for v in reported.values()), reported
    assert {"Loss/D", "Loss/G"} <= set(reported)
    if stabilizer in PENALTIES:  # the penalty ran and reported itself, beside D's and G's loss
        assert {k for k in reported if k.startswith("Loss/")} - {"Loss/D", "Loss/G"}, reported
    after = [p.detach() for p in (*gan.G.parameters(), *gan.D.parameters())]
    assert sum(not torch.equal(a, b) for a, b in zip(before, after, strict=True)) >= 2
