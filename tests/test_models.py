"""Every model builds for every data shape it supports, and a training step changes it."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import PLAIN, spec_of, tiny
from torch import nn

from gan_cli.data.source import BatchStream, TensorSource
from gan_cli.gan import Part, build_gan
from gan_cli.models import dcgan, mlp
from gan_cli.runtime import Runtime

CPU = Runtime(torch.device("cpu"))

# (overrides, data shape): digits, MNIST-, CIFAR- and CelebA-like images, and the 2-D mixtures
SUPPORTED = [
    (["model=dcgan", "dataset=digits"], (1, 8, 8)),  # its tuned settings there: 8 px
    (["model=dcgan", *PLAIN], (1, 32, 32)),  # the paper's DCGAN
    (["model=dcgan", "dataset=fake", "dataset.resolution=16", "dataset.channels=1"], (1, 16, 16)),
    (["model=dcgan", "dataset=cifar10"], (3, 32, 32)),
    (["model=dcgan", "dataset=fake", "dataset.resolution=64"], (3, 64, 64)),
    (["model=dcgan", "experiment=wgan_gp", "dataset=fake", "dataset.resolution=32"], (3, 32, 32)),
    (["model=mlp", "dataset=grid25"], (2,)),
    (["model=mlp", "dataset=ring8", "loss=wasserstein"], (2,)),
    (["model=mlp", "dataset=digits"], (1, 8, 8)),
]


def random_source(shape: tuple[int, ...], n: int = 64) -> TensorSource:
    if len(shape) == 3:
        return TensorSource(torch.randint(0, 256, (n, *shape), dtype=torch.uint8), "random")
    return TensorSource(torch.randn(n, *shape), "random")


@pytest.mark.parametrize(("overrides", "shape"), SUPPORTED, ids=[" ".join(o) for o, _ in SUPPORTED])
def test_builds_and_trains_one_step(overrides, shape):
    torch.manual_seed(0)
    cfg, spec = spec_of(*tiny(*overrides))
    gan = build_gan(cfg, spec, shape, CPU)
    z = gan.noise(5)
    assert gan.G(z).shape == (5, *shape)
    assert gan.D(gan.G(z)).shape == (5,)
    assert not any(isinstance(m, nn.Sigmoid) for m in gan.D.modules()), "D returns raw scores"
    if spec.optim.name == "adam" and spec.optim.kernel.value == "auto":  # foreach on the CPU
        assert gan.opt_g.defaults["foreach"] is True and not gan.opt_g.defaults["fused"]

    batches = BatchStream(random_source(shape), spec.batch_size, seed=0, device=CPU.device)
    # one D step lowers D's objective on the very batch it trained on
    real = next(batches)
    rng = gan.noise.generator.get_state()
    fake = gan.G(gan.noise(len(real))).detach()  # the batch d_step will draw (same noise)
    before = d_objective(gan, real, fake)
    gan.noise.generator.set_state(rng)
    (part,) = gan.d_step(real, keep_graph=False)  # one micro-batch: the batch itself
    assert torch.equal(part.fake, fake) and part.real is real
    assert d_objective(gan, real, fake) < before

    # a whole step (D steps, then G) changes both networks and reports finite values
    g_before = [p.detach().clone() for p in gan.G.parameters()]
    d_before = [p.detach().clone() for p in gan.D.parameters()]
    gan.step(batches)
    reported = gan.stats.flush()
    assert {"Loss/D", "Loss/G", "D/real", "D/fake"} <= set(reported)
    assert all(math.isfinite(v) for v in reported.values()), reported
    assert any(not torch.equal(a, b) for a, b in zip(g_before, gan.G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, gan.D.parameters(), strict=True))


def d_objective(gan, real: torch.Tensor, fake: torch.Tensor) -> float:
    with torch.no_grad():
        return gan.loss.d_loss(gan.D(real), gan.D(fake)).item()


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_dcgan_layers_follow_the_resolution(resolution):
    G, D = dcgan.build((3, resolution, resolution), latent_dim=10, g_width=4, d_width=4)
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    downs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    # 1x1 -> 4x4, then one doubling per layer; D mirrors it
    assert len(ups) == len(downs) == {16: 3, 32: 4, 64: 5}[resolution]
    assert ups[-1].out_channels == downs[0].in_channels == 3
    assert isinstance(D.net[1], nn.LeakyReLU), "no norm on D's first layer (Radford et al.)"


@pytest.mark.parametrize("kernel", ["fused", "foreach"])
def test_optim_kernel_picks_how_adam_updates(kernel):
    """optim.kernel reaches both optimisers; the digits recipe, measured with it, sets fused."""
    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25", f"optim.kernel={kernel}"))
    gan = build_gan(cfg, spec, (2,), CPU)
    assert gan.opt_g.defaults[kernel] is True and gan.opt_d.defaults[kernel] is True
    assert spec_of("experiment=digits")[1].optim.kernel.value == "fused"


def test_dcgan_refuses_resolutions_it_cannot_build():
    with pytest.raises(ValueError, match="16, 32 or 64"):
        dcgan.build((1, 48, 48))


def test_g_step_leaves_d_untouched_and_without_grads():
    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25"))
    gan = build_gan(cfg, spec, (2,), CPU)
    d_before = [p.detach().clone() for p in gan.D.parameters()]
    z = gan.noise(8)
    gan.g_step([Part(real=torch.randn(8, 2), z=z, c=None, fake=gan.G(z))])
    assert all(p.grad is None for p in gan.D.parameters())
    assert all(torch.equal(a, b) for a, b in zip(d_before, gan.D.parameters(), strict=True))
    assert all(p.requires_grad for p in gan.D.parameters())


def test_each_critic_step_gets_a_new_real_batch_and_new_noise():
    """optim.d_steps=3: three D updates on three consecutive batches of the data order, each
    against its own generated batch; the G update reuses the last of them."""
    cfg, spec = spec_of(*tiny("model=mlp", "dataset=grid25", "optim.d_steps=3"))
    gan = build_gan(cfg, spec, (2,), CPU)
    data = torch.arange(256, dtype=torch.float32).unsqueeze(1).repeat(1, 2)  # row i = (i, i)
    order = BatchStream(TensorSource(data, "rows"), spec.batch_size, seed=0, device=CPU.device)
    expected = [next(order) for _ in range(3)]
    batches = BatchStream(TensorSource(data, "rows"), spec.batch_size, seed=0, device=CPU.device)
    reals, fakes, noises = [], [], []
    d_step, g_step, noise = gan.d_step, gan.g_step, gan.noise

    def spy_d(real, keep_graph, c=None):
        reals.append(real)
        fakes.append(d_step(real, keep_graph, c))  # the step's parts: one here
        return fakes[-1]

    def spy_noise(n):
        noises.append(noise(n))
        return noises[-1]

    def spy_g(parts):
        (part,) = parts
        assert parts is fakes[-1] and part.real is reals[-1] and part.fake.requires_grad
        return g_step(parts)

    gan.d_step, gan.g_step, gan.noise = spy_d, spy_g, spy_noise
    gan.step(batches)
    assert [r.tolist() for r in reals] == [e.tolist() for e in expected]
    assert len({tuple(r[:, 0].tolist()) for r in reals}) == 3  # three different batches
    assert len(noises) == 3 and not torch.equal(noises[0], noises[1])
    assert not torch.equal(noises[1], noises[2])
    # only the last keeps G's graph
    assert [part.fake.requires_grad for (part,) in fakes] == [False, False, True]


def test_linear_learning_rate_decay_follows_the_step():
    plain = ["model=mlp", "experiment=grid25_mlp", "optim.lr=2e-4"]  # no decay of its own
    cfg, spec = spec_of(*tiny(*plain, "optim.decay=linear", "optim.decay_start=0.5",
                              "optim.lr_d=4e-4"))  # fmt: skip
    gan = build_gan(cfg, spec, (2,), CPU)
    for step, factor in ((0, 1.0), (50, 1.0), (75, 0.5), (90, 0.2), (100, 0.0)):
        gan.schedule.set(step, 100)
        assert gan.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * factor)
        assert gan.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * factor)
    cfg, spec = spec_of(*tiny(*plain))  # the default: constant
    gan = build_gan(cfg, spec, (2,), CPU)
    gan.schedule.set(99, 100)
    assert gan.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4)


@pytest.mark.parametrize(
    "extra",
    [["loss=non_saturating"], ["loss=hinge", "stabilizers=[r1,r2]", "stabilizers.r1.every=2",
                               "stabilizers.r2.every=2", "optim.d_steps=2"]],
    ids=["plain", "lazy r1+r2, 2 D steps"],
)  # fmt: skip
def test_micro_batches_make_the_update_of_the_whole_batch(extra):
    """Gradient accumulation: a batch of 64 in 4 parts of 16 trains as the batch in one piece
    (MLP without batch norm, fp32: equal to float rounding), lazy penalties included. The last
    gradients are compared too: Adam's steps would hide a gradient k times too large."""
    weights, grads = [], []
    for k in (1, 4):
        cfg, spec = spec_of("model=mlp", "dataset=ring8", "model.hidden=32", "batch_size=64",
                            "device.precision=fp32", f"micro_batches={k}", *extra)  # fmt: skip
        torch.manual_seed(0)
        gan = build_gan(cfg, spec, (2,), CPU)
        assert gan.micro_batches == k
        batches = BatchStream(random_source((2,), 256), 64, seed=0, device=CPU.device)
        for _ in range(6):
            gan.step(batches)
        weights.append([p.detach().clone() for net in (gan.G, gan.D) for p in net.parameters()])
        grads.append([p.grad for net in (gan.G, gan.D) for p in net.parameters()])
        reported = gan.stats.flush()
        assert math.isfinite(reported["Loss/D"]) and math.isfinite(reported["Loss/G"])
    whole, parts = weights
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole, parts, strict=True))
    assert all(a is b is None or torch.allclose(a, b, atol=1e-6, rtol=1e-4)
               for a, b in zip(*grads, strict=True))  # fmt: skip
    assert sum(g is not None for g in grads[1]) >= len(grads[1]) // 2
    # ... and the comparison can fail: 6 steps moved the weights far beyond that tolerance
    torch.manual_seed(0)
    fresh = build_gan(cfg, spec, (2,), CPU)
    start = [p for net in (fresh.G, fresh.D) for p in net.parameters()]
    assert any(not torch.allclose(a, b, atol=1e-3) for a, b in zip(start, parts, strict=True))


def stripe_accuracy(d_fourier: int, steps: int = 300) -> float:
    """A D of the MLP trained `steps` logistic steps to tell points in [-1, 1]^2 by the parity
    of the stripe (12 across, each 1/6 wide) they fall in, detail as fine as the lines of
    samples between grid25's modes; its accuracy on fresh points."""
    torch.manual_seed(0)
    _, D = mlp.build((2,), hidden=64, d_fourier=d_fourier, d_fourier_scale=3.0)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def points_and_stripes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, 2, generator=gen) * 2 - 1
        return x, (torch.sin(2 * math.pi * 3 * x[:, 0]) > 0).float()

    for _ in range(steps):
        x, y = points_and_stripes(256)
        loss = nn.functional.binary_cross_entropy_with_logits(D(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = points_and_stripes(4000)
    with torch.no_grad():
        return float(((D(x) > 0).float() == y).float().mean())


def test_fourier_features_let_the_mlp_d_resolve_fine_detail():
    """model.d_fourier: measured 0.97-0.98 with 32 features against 0.54-0.60 without (seeds
    0-2); the frequencies are a buffer, saved with D's weights and rebuilt alike."""
    plain, fourier = stripe_accuracy(0), stripe_accuracy(32)
    assert fourier >= 0.9 and plain <= 0.75, (plain, fourier)
    _, D = mlp.build((2,), d_fourier=8)
    _, again = mlp.build((2,), d_fourier=8)
    assert torch.equal(D.state_dict()["angular_freqs"], again.state_dict()["angular_freqs"])
    assert D.state_dict()["angular_freqs"].shape == (2, 8)
