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
from gan_cli.data.mixtures import grid25, grid25_centres, ring8
from gan_cli.data.source import to_unit_range
from gan_cli.data.stacked_digits import StackedDigits
from gan_cli.errors import ConfigError
from gan_cli.metrics import digits_net, inception
from gan_cli.metrics.classes import histogram_stats, stacked_modes
from gan_cli.metrics.extractors import make_extractor
from gan_cli.metrics.frechet import fid, frechet_distance, kid, mean_cov
from gan_cli.metrics.mixture import mode_stats, nearest_modes
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


def test_fid_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    a, b = features(1500, 32, seed=6), features(1200, 32, seed=7, shift=0.2)
    mu1, mu2 = a.numpy().mean(0), b.numpy().mean(0)
    s1, s2 = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    assert fid(a, b) == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-6)


def test_kid_matches_torch_fidelity_whole_sets_and_the_100_by_1000_protocol():
    from torch_fidelity.metric_kid import kid_features_to_metric

    def theirs(x, y, subsets, size, seed):
        out = kid_features_to_metric(x, y, kid_subsets=subsets, kid_subset_size=size,
                                     rng_seed=seed, verbose=False)  # fmt: skip
        return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]

    real, fake = features(1500, 24, seed=8), features(1300, 24, seed=9, shift=0.1)
    # the published protocol: 100 subsets of 1,000, mean and population std, the same draws
    ours = kid(real, fake, subsets=100, subset_size=1000, seed=3)
    want = theirs(real, fake, 100, 1000, 3)
    assert ours == pytest.approx(want, rel=1e-7)
    # whole sets, once
    ours = kid(real[:400], fake[:400], subsets=1, subset_size=400, seed=0)
    assert ours[0] == pytest.approx(theirs(real[:400], fake[:400], 1, 400, 0)[0], rel=1e-7)
    # two different pairs of sets must not compare equal: a shifted set scores higher
    assert kid(real, fake, 10, 500)[0] < kid(real, fake + 1.0, 10, 500)[0]


@pytest.mark.parametrize("n", [11, 1000, 1003])
def test_inception_score_matches_torch_fidelity(n):
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = features(n, 10, seed=n) * 3
    want = isc_features_to_metric(logits, splits=10, shuffle=False)
    ours = inception_score(logits.softmax(dim=1), splits=10)
    assert ours[0] == pytest.approx(want["inception_score_mean"], rel=1e-9)
    assert ours[1] == pytest.approx(want["inception_score_std"], rel=1e-9)


def test_inception_score_bounds():
    uniform = torch.full((100, 10), 0.1)
    assert inception_score(uniform, splits=5)[0] == pytest.approx(1.0)
    confident = torch.eye(10).repeat(10, 1)  # every class equally often, each one certain
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_precision_recall_at_k3_and_density_coverage_at_k5_match_prdc():
    from prdc import compute_prdc

    real, fake = features(700, 16, seed=10), features(600, 16, seed=11, shift=0.15)
    ours = precision_recall(real, fake)  # the defaults: k = 3 and k = 5
    at3 = compute_prdc(real.numpy(), fake.numpy(), nearest_k=3)
    at5 = compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    assert ours["precision"] == pytest.approx(at3["precision"], abs=1e-12)
    assert ours["recall"] == pytest.approx(at3["recall"], abs=1e-12)
    assert ours["density"] == pytest.approx(at5["density"], abs=1e-12)
    assert ours["coverage"] == pytest.approx(at5["coverage"], abs=1e-12)
    assert at3["coverage"] != at5["coverage"]  # the k matters: this test can tell them apart


def test_two_samples_of_one_distribution_cover_each_other_at_k5():
    # Naeem et al.: coverage of a sample of the real distribution is near 1 at k = 5
    both = features(4000, 16, seed=12)
    real, same = both[:2000], both[2000:]
    got = precision_recall(real, same)
    at3 = precision_recall(real, same, k_dc=3)
    assert at3["coverage"] < got["coverage"]
    assert got["coverage"] > 0.93 and 0.9 < got["density"] < 1.1, got


def test_precision_recall_density_coverage_on_hand_built_points():
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    fake = torch.tensor([[0.5, 0.0], [10.0, 0.0]])
    # k=1: every real point's radius is 1; the fakes are 9.5 apart, so their radius is 9.5
    got = precision_recall(real, fake, k=1, k_dc=1)
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
    assert got["spread"] == 0.0  # every high-quality point sits on its centre


@pytest.mark.parametrize("data", [grid25, ring8])
def test_mode_spread_is_one_for_the_data_and_sees_narrow_modes(data):
    """The data score spread 1 (and 98.9 % within 3 sigma); the same modes shrunk to half
    their width score 0.5 and a higher share within 3 sigma: what the share alone rewards."""
    source = data(size=20_000, seed=1)
    centres, sigma = source.meta["centres"], source.meta["sigma"]
    real = mode_stats(source.data, centres, sigma)
    assert real["spread"] == pytest.approx(1.0, abs=0.02)
    assert real["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    _, nearest = nearest_modes(source.data, centres)
    narrow = centres[nearest] + 0.5 * (source.data - centres[nearest])
    got = mode_stats(narrow, centres, sigma)
    assert got["spread"] == pytest.approx(0.5, abs=0.02) and got["high_quality"] == 1.0


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
    net, net_b = digits_net.load(), digits_net.load(digits_net.WEIGHTS_B)
    true = histogram_stats(data.meta["modes"], 1000)
    got = stacked_modes(images, net, net_b)
    assert got["modes"] == true["covered"] and 900 < got["modes"] <= 1000
    assert got["mode_kl"] == pytest.approx(true["kl"], abs=0.01)
    # real digits: both classifiers read the same modes, and nearly every channel confidently
    assert got["modes_b"] == got["modes"] and got["mode_kl_b"] == pytest.approx(got["mode_kl"])
    assert got["confident"] > 0.99
    # a collapsed set: ten images of one triple, and ten of another
    two = torch.cat([images[:1].repeat(10, 1, 1, 1), images[1:2].repeat(10, 1, 1, 1)])
    assert stacked_modes(two, net) == {"modes": 2, "mode_kl": pytest.approx(math.log(500)),
                                       "confident": 1.0}  # fmt: skip
    # blobs: blurred digits still get a class each, but not confidently
    blurred = torch.nn.functional.avg_pool2d(images[:500], 15, stride=1, padding=7)
    assert stacked_modes(blurred, net)["confident"] < 0.5


def test_the_second_digits_classifier_agrees_on_held_out_digits_and_differs_in_make():
    raw, labels = load_raw()
    x = to_unit_range(fit_images(raw, 32, 1))
    with torch.no_grad():
        a = digits_net.load()(x).argmax(1)
        b = digits_net.load(digits_net.WEIGHTS_B)(x).argmax(1)
    assert (a == labels).float().mean() > 0.97 and (b == labels).float().mean() > 0.97
    assert type(digits_net.load(digits_net.WEIGHTS_B)).__name__ == "DigitsNetB"
    assert digits_net.sha256(digits_net.WEIGHTS_B) != digits_net.sha256()


def test_inception_port_matches_pytorch_fids_own_blocks(tmp_path, monkeypatch):
    """Our FID Inception against pytorch-fid's (its FID blocks, its resizing and scaling),
    both loaded with the same random weights: 2,048-d features of [0, 1] input there and of
    the same images in [-1, 1] here."""
    import pytorch_fid.inception as ref

    torch.manual_seed(0)
    state = inception.FIDInception().net.state_dict()
    for name, t in state.items():  # random, but not the identity statistics of a fresh net
        if name.endswith("running_mean"):
            t.normal_(0, 0.1)
        elif name.endswith("running_var"):
            t.uniform_(0.5, 1.5)
    monkeypatch.setattr(ref, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = ref.InceptionV3([ref.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                             normalize_input=True, use_fid_inception=True).eval()  # fmt: skip
    path = tmp_path / "fid_inception.pth"
    torch.save(state, path)
    ex = make_extractor("inception", torch.device("cpu"), inception_weights=str(path))

    images01 = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = theirs(images01)[0].flatten(1)
    feats, probs = ex(images01 * 2 - 1)
    assert feats.shape == (3, 2048) and probs.shape == (3, 1008)
    scale = want.abs().max()
    assert scale > 0 and torch.allclose(feats / scale, want / scale, atol=1e-5)
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
