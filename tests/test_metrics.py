"""Metric arithmetic against independent numpy/scipy code and hand-built cases; the shipped
digits classifier; the Inception extractor's loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_cli.data.digits import load_raw
from gan_cli.data.images import fit_images
from gan_cli.data.mixtures import grid25_centres
from gan_cli.data.source import to_unit_range
from gan_cli.data.stacked_digits import StackedDigits
from gan_cli.errors import ConfigError
from gan_cli.metrics import digits_net, inception
from gan_cli.metrics.classes import histogram_stats, stacked_modes
from gan_cli.metrics.extractors import make_extractor
from gan_cli.metrics.frechet import fid, frechet_distance, kid, mean_cov
from gan_cli.metrics.mixture import mode_stats
from gan_cli.metrics.scores import inception_score, precision_recall


def features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / math.sqrt(d)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix.double() + shift


def numpy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (as pytorch-fid): scipy's matrix square root."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def numpy_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2, cubic polynomial kernel, whole sets, with explicit loops over pairs."""
    d, m = a.shape[1], a.shape[0]

    def k(x, y):
        return (x @ y / d + 1) ** 3

    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    return float(xx + yy - 2 * xy)


def test_fid_of_a_set_with_itself_is_zero():
    f = features(2000, 64, seed=0)
    assert abs(fid(f, f)) < 1e-6


def test_fid_of_sampled_gaussians_matches_the_closed_form():
    # N(mu1, diag(s1^2)) vs N(mu2, diag(s2^2)): FID = |mu1 - mu2|^2 + sum (s1 - s2)^2
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.5, 1.0, 0.5])
    a = mu1 + s1 * torch.randn(200_000, 3, generator=g)
    b = mu2 + s2 * torch.randn(200_000, 3, generator=g)
    closed = float(((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum())  # 5 + 1.25
    assert fid(a, b) == pytest.approx(closed, rel=0.01)
    # and the analytic distance itself, on full (non-diagonal) covariances, against scipy
    c1, c2 = mean_cov(features(500, 5, seed=2))[1], mean_cov(features(500, 5, seed=3))[1]
    expected = float(c1.trace() + c2.trace()) - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance(mu1[:1].double() * 0, c1, mu1[:1].double() * 0, c2) == pytest.approx(
        expected, rel=1e-9
    )


def test_fid_and_kid_agree_with_numpy_and_scipy():
    a, b = features(300, 16, seed=4), features(300, 16, seed=5, shift=0.3)
    assert fid(a, b) == pytest.approx(numpy_fid(a.numpy(), b.numpy()), rel=1e-4)
    small_a, small_b = a[:60], b[:60]
    mean, std = kid(small_a, small_b, subsets=1, subset_size=60)
    assert mean == pytest.approx(numpy_kid(small_a.numpy(), small_b.numpy()), rel=1e-4)
    assert std == 0.0
    # subsets: reproducible by seed, and near the whole-set value
    assert kid(a, b, subsets=20, subset_size=100, seed=1) == kid(a, b, 20, 100, seed=1)


def test_inception_score_bounds():
    uniform = torch.full((100, 10), 0.1)
    assert inception_score(uniform, splits=5)[0] == pytest.approx(1.0)
    confident = torch.eye(10).repeat(10, 1)  # every class equally often, each one certain
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_precision_recall_density_coverage_on_hand_built_points():
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    fake = torch.tensor([[0.5, 0.0], [10.0, 0.0]])
    # k=1: every real point's radius is 1; the fakes are 9.5 apart, so their radius is 9.5
    got = precision_recall(real, fake, k=1)
    assert got["precision"] == 0.5  # (0.5, 0) is inside the real balls, (10, 0) is not
    assert got["recall"] == 1.0  # all real points lie within 9.5 of a fake
    assert got["density"] == 1.0  # (0.5, 0) sits in 2 real balls, (10, 0) in none: 2 / (1 * 2)
    assert got["coverage"] == 0.4  # the balls of (0, 0) and (1, 0) hold a fake: 2 of 5


def test_mode_metrics_on_hand_built_points():
    centres = grid25_centres()
    points = torch.cat([centres[[0, 7, 7, 24]], torch.tensor([[1.0, 1.0]])])  # + one between
    got = mode_stats(points, centres, sigma=0.05)
    assert got["modes"] == 3 and got["high_quality"] == pytest.approx(0.8)
    # histogram (1, 2, 1) / 4 against uniform over 25 modes
    q = np.array([0.25, 0.5, 0.25])
    assert got["reverse_kl"] == pytest.approx(float((q * np.log(q * 25)).sum()))
    just_outside = centres[:1] + torch.tensor([[0.151, 0.0]])  # 3 sigma is 0.15
    assert mode_stats(just_outside, centres, 0.05)["modes"] == 0


def test_histogram_stats():
    assert histogram_stats(torch.arange(10), 10) == {"covered": 10, "kl": pytest.approx(0.0)}
    assert histogram_stats(torch.zeros(5, dtype=torch.long), 10)["kl"] == pytest.approx(np.log(10))


def test_digits_classifier_reaches_97_percent_on_held_out_digits():
    raw, labels = load_raw()
    _, held_out = digits_net.split_indices(len(raw))
    x = to_unit_range(fit_images(raw[held_out], 32, 1))
    with torch.no_grad():
        accuracy = (digits_net.load()(x).argmax(1) == labels[held_out]).float().mean().item()
    assert len(held_out) == 359 and accuracy >= 0.97, accuracy
    assert digits_net.WEIGHTS.stat().st_size < 400_000  # ships with the package


def test_stacked_digits_metric_counts_modes_of_real_stacked_digits():
    data = StackedDigits(size=3000, resolution=32, seed=3)
    order = torch.arange(len(data))
    images = torch.cat(list(data.batches(order, 500, torch.device("cpu"))))
    net = digits_net.load()
    true = histogram_stats(data.meta["modes"], 1000)
    got = stacked_modes(images, net)
    assert got["modes"] == true["covered"] and 900 < got["modes"] <= 1000
    assert got["mode_kl"] == pytest.approx(true["kl"], abs=0.01)
    # a collapsed set: ten images of one triple, and ten of another
    two = torch.cat([images[:1].repeat(10, 1, 1, 1), images[1:2].repeat(10, 1, 1, 1)])
    assert stacked_modes(two, net) == {"modes": 2, "mode_kl": pytest.approx(math.log(500))}


def test_inception_loads_from_a_local_weights_file(tmp_path):
    path = tmp_path / "fid_inception.pth"
    torch.manual_seed(0)
    torch.save(inception.FIDInception().net.state_dict(), path)  # the right structure
    ex = make_extractor("inception", torch.device("cpu"), inception_weights=str(path))
    feats, probs = ex(torch.rand(3, 3, 32, 32) * 2 - 1)
    assert feats.shape == (3, 2048) and probs.shape == (3, 1008)
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    assert len(ex.weights_sha256) == 64
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ConfigError, match="not the FID Inception-v3 state dict"):
        make_extractor("inception", torch.device("cpu"), inception_weights=str(wrong))


def test_inception_offline_without_weights_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    with pytest.raises(ConfigError) as info:
        make_extractor("inception", torch.device("cpu"))
    message = str(info.value)
    assert "\n" not in message and inception.FILENAME in message
    assert str(tmp_path / "hub" / "checkpoints") in message
