"""The model zoo: every model builds for each resolution and channel count it claims,
conditional or not; labels reach G and D; StyleGAN2's pieces against direct computations."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import PLAIN, compose_train
from test_config import choices

from gan_cli.config import SCHEMAS
from gan_cli.config.model import ImageModelConfig
from gan_cli.config.sizes import attention_sizes
from gan_cli.models import resnet, stylegan2
from gan_cli.models.conditional import ConditionalBatchNorm2d
from gan_cli.registry import resolve


@functools.cache
def builder(name: str):
    """A model's build function, as its YAML names it (conf/model/<name>.yaml)."""
    return resolve("model", compose_train(f"model={name}", *PLAIN).model._target_, "model")


# every image model in conf/model/, small (its schema's SMALL), at every size it claims
SMALL = {m: (builder(m), s.SMALL, s.RESOLUTIONS) for m in choices("model")
         if issubclass(s := SCHEMAS["model"][m], ImageModelConfig)}  # fmt: skip
CASES = [(name, res, ch, k) for name, (_, _, resolutions) in SMALL.items() for res in resolutions
         for ch in (1, 3) for k in (0, 10)]  # fmt: skip


@pytest.mark.parametrize(("name", "res", "channels", "classes"), CASES,
                         ids=[f"{n}-{r}px-{c}ch-{k}cls" for n, r, c, k in CASES])  # fmt: skip
def test_every_model_builds_for_what_it_claims(name, res, channels, classes):
    build, params, _ = SMALL[name]
    if "attention" in SCHEMAS["model"][name].__dataclass_fields__:  # self-attention where the
        params = {**params, "attention": ([0] + attention_sizes(res))[-1]}  # size allows (8 px: no)
    torch.manual_seed(0)
    G, D = build((channels, res, res), conditional=bool(classes), num_classes=classes,
                        **params)  # fmt: skip
    z = torch.randn(4, G.latent_dim)
    c = torch.tensor([0, 1, 2, 3]) if classes else None
    x = G(z) if c is None else G(z, c)
    assert x.shape == (4, channels, res, res)
    scores = D(x) if c is None else D(x, c)
    assert scores.shape == (4,) and torch.isfinite(scores).all()
    if classes:  # the label reaches both networks
        other = torch.tensor([5, 6, 7, 8])
        assert not torch.allclose(D(x, c), D(x, other))
        G.eval()  # (fixed noise and batch-norm statistics: only the label differs)
        norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
        if norms:  # conditional batch norm starts as plain batch norm (scale 1, shift 0) ...
            assert torch.allclose(G(z, c), G(z, other))
            for m in norms:  # ... and learns a scale and shift per class
                torch.nn.init.normal_(m.scale.weight, 1.0, 0.2)
                torch.nn.init.normal_(m.shift.weight, 0.0, 0.2)
        assert not torch.allclose(G(z, c), G(z, other))


@pytest.mark.parametrize("name", list(SMALL))
def test_unclaimed_resolutions_are_refused(name):
    build, params, _ = SMALL[name]
    with pytest.raises(ValueError):
        build((3, 24, 24), **params)


def test_resnet_self_attention_sits_at_its_resolution_and_starts_as_the_identity():
    for res in resnet.RESOLUTIONS:  # every size offered puts one block in G and one in D
        for size in resnet.attention_sizes(res):
            G, D = resnet.build((1, res, res), g_width=8, d_width=8, attention=size)
            for net in (G, D):
                assert sum(isinstance(m, resnet.SelfAttention) for m in net.modules()) == 1
    with pytest.raises(ValueError, match="not 32"):  # D never sees 32x32 features
        resnet.build((3, 32, 32), attention=32)
    G, D = resnet.build((3, 32, 32), g_width=16, d_width=16, attention=16)
    attention = [m for m in (*G.modules(), *D.modules()) if isinstance(m, resnet.SelfAttention)]
    assert len(attention) == 2 and all(m.gamma.item() == 0 for m in attention)
    x = torch.randn(2, 16, 16, 16)
    assert torch.equal(attention[0](x), x)


def test_modulated_convolution_equals_the_direct_computation():
    """Each sample's own weights w'_oik = s_i w_oik, demodulated by 1/|w'_o|, then an
    ordinary convolution per sample."""
    torch.manual_seed(1)
    conv = stylegan2.ModulatedConv2d(c_in=6, c_out=5, kernel=3, w_dim=8)
    x, w = torch.randn(3, 6, 7, 7), torch.randn(3, 8)
    styles = conv.affine(w)
    expected = []
    for i in range(3):
        weight = conv.weight * conv.gain * styles[i][None, :, None, None]
        weight = weight / weight.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        expected.append(F.conv2d(x[i : i + 1], weight, padding=1))
    assert torch.allclose(conv(x, w), torch.cat(expected), atol=1e-5)
    plain = stylegan2.ModulatedConv2d(6, 5, 1, 8, demodulate=False)
    s = plain.affine(w)
    direct = torch.cat([F.conv2d(x[i : i + 1], plain.weight * plain.gain * s[i][None, :, None,
                                                                               None])
                        for i in range(3)])  # fmt: skip
    assert torch.allclose(plain(x, w), direct, atol=1e-5)


def test_minibatch_stddev_by_hand():
    x = torch.tensor([1.0, 3.0, 2.0, 6.0]).view(4, 1, 1, 1).expand(4, 2, 2, 2).clone()
    x[:, 1] *= 2  # the second feature varies twice as much
    out = stylegan2.minibatch_stddev(x, group=2)  # groups: samples (0, 2) and (1, 3)
    # group (1, 2): std 0.5 and 1.0 -> 0.75; group (3, 6): std 1.5 and 3.0 -> 2.25
    extra = out[:, 2, 0, 0]
    assert out.shape == (4, 3, 2, 2)
    assert extra.tolist() == pytest.approx([0.75, 2.25, 0.75, 2.25], abs=1e-4)


def test_truncation_pulls_w_towards_its_mean():
    torch.manual_seed(2)
    G, _ = stylegan2.build((1, 16, 16), **SMALL["stylegan2"][1])
    G.train()
    for _ in range(20):  # the mapping network tracks the mean w while training
        G(torch.randn(8, 16))
    G.eval()
    z = torch.randn(4, 16)
    w, w_avg = G.mapping(z), G.mapping.w_avg
    assert w_avg.abs().sum() > 0
    for psi in (0.0, 0.7, 1.0):
        assert torch.allclose(G.mapping(z, truncation=psi), w_avg + psi * (w - w_avg), atol=1e-6)
    assert torch.allclose(G(z, truncation=0.0)[0], G(z, truncation=0.0)[1], atol=1e-5)


def test_style_mixing_uses_two_styles_from_a_crossover_point():
    torch.manual_seed(3)
    G, _ = stylegan2.build((1, 16, 16), style_mixing=1.0, **{k: v for k, v in SMALL["stylegan2"][
        1].items()})  # fmt: skip
    G.train()
    ws = G.ws(torch.randn(2, 16))
    distinct = [not torch.equal(ws[:, i], ws[:, 0]) for i in range(ws.shape[1])]
    assert not distinct[0] and any(distinct) and distinct == sorted(distinct)
    G.eval()
    ws = G.ws(torch.randn(2, 16))
    assert all(torch.equal(ws[:, i], ws[:, 0]) for i in range(ws.shape[1]))


def test_equalised_learning_rate_scales_at_run_time():
    layer = stylegan2.EqualLinear(64, 4, lr_mul=0.01)
    assert layer.weight.std().item() == pytest.approx(100.0, rel=0.2)  # N(0, 1) / lr_mul
    x = torch.randn(512, 64)
    assert layer(x).std().item() == pytest.approx(1.0, rel=0.2)  # ... scaled back at run time
    assert math.isclose(layer.weight_gain, 0.01 / 8)


def test_conditional_metrics_on_real_digits_with_right_and_wrong_labels():
    """Real held-out digits asked for their own class score label accuracy ~1 and a small
    intra-class FID; the same images with shuffled labels, neither."""
    from gan_cli.data.digits import load
    from gan_cli.metrics.evaluate import Evaluator

    source = load()
    ev = Evaluator("digits", source, 2000, 0, {"_target_": "gan_cli.data.digits.load"},
                   torch.device("cpu"), cache_dir=None, num_classes=10)  # fmt: skip
    images, labels = source.data, source.meta["labels"]
    real = images.float() / 127.5 - 1
    right = ev.score(real, labels)
    wrong = ev.score(real, labels[torch.randperm(len(labels), generator=torch.Generator()
                                                 .manual_seed(0))])  # fmt: skip
    assert right["label_accuracy"] > 0.97 and wrong["label_accuracy"] < 0.2
    assert right["intra_fid"] < 1e-6 and wrong["intra_fid"] > 10  # the same images: FID 0
    unconditional = ev.score(real)  # no labels asked for: none to check ...
    assert "label_accuracy" not in unconditional
    # ... but intra-FID still, by the classes the classifier reads: ~0 for the real images
    # themselves; a set of a single digit misses nine classes.
    assert unconditional["intra_fid"] < 2
    assert ev.score(real[labels == 3])["intra_fid"] == float("inf")
    assert "classes" in ev.protocol and "uniformly" in ev.protocol["classes"]


def test_image_folders_with_class_subfolders_carry_labels(tmp_path):
    from PIL import Image

    from gan_cli.data import folder

    for name, shade in (("cat", 40), ("dog", 200)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("L", (12, 12), shade + i).save(tmp_path / name / f"{i}.png")
    source = folder.load(str(tmp_path), resolution=8, channels=1, workers=0)
    assert source.num_classes == 2 and source.meta["classes"] == ["cat", "dog"]
    order = torch.arange(6)
    ((images, labels),) = list(source.batches(order, 6, torch.device("cpu"), labels=True))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert (images[labels == 1].mean() > images[labels == 0].mean()).item()
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("L", (12, 12), 9).save(flat / "x.png")
    assert folder.load(str(flat), resolution=8, channels=1).num_classes == 0
