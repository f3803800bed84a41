"""BigGAN's own pieces (gan_cli/models/biggan.py): what makes it BigGAN rather than the SNGAN
ResNet. That it builds at every size it claims, trains a step with every loss and stabiliser
and composes with its digits settings is covered by the model-wide tests (test_zoo,
test_stabilizers, test_defaults), which find it in conf/model/."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_gan

from gan_cli import checkpoint
from gan_cli.data.source import to_uint8, to_unit_range
from gan_cli.errors import ConfigError
from gan_cli.generation import truncated_normal, truncation_options
from gan_cli.metrics.evaluate import generate
from gan_cli.models import biggan, dcgan, stylegan2
from gan_cli.sample import latents

SMALL = {"g_width": 8, "d_width": 8, "latent_dim": 20, "shared_dim": 8}


def test_each_chunk_of_z_reaches_its_own_block():
    """z in 3 chunks at 16 px (input layer, two blocks); a change in one chunk changes the
    image, and the chunks cover z exactly."""
    torch.manual_seed(0)
    G, _ = biggan.build((1, 16, 16), **SMALL)
    G.eval()
    assert G.chunks == [8, 6, 6] and sum(G.chunks) == G.latent_dim
    z = torch.randn(2, 20)
    for start, size in ((0, 8), (8, 6), (14, 6)):
        other = z.clone()
        other[:, start : start + size] += 1.0
        assert not torch.allclose(G(z), G(other)), f"chunk at {start} is unused"
    first_block = G.blocks[0]
    assert first_block.norm1.gain.in_features == 6  # its chunk alone (unconditional)


def test_one_class_embedding_is_shared_by_every_block():
    torch.manual_seed(0)
    G, _ = biggan.build((1, 32, 32), conditional=True, num_classes=10, **SMALL)
    embeddings = [m for m in G.modules() if isinstance(m, torch.nn.Embedding)]
    assert len(embeddings) == 1 and embeddings[0].embedding_dim == 8
    norms = [m for m in G.modules() if isinstance(m, biggan.ConditionalNorm)]
    assert len(norms) == 2 * 3 and all(n.gain.in_features == 5 + 8 for n in norms)
    G.eval()
    z = torch.randn(2, 20)
    c, other = torch.tensor([1, 2]), torch.tensor([3, 4])
    assert not torch.allclose(G(z, c), G(z, other))  # the label reaches G from the start


def test_every_layer_starts_orthogonal():
    torch.manual_seed(0)
    G, D = biggan.build((1, 16, 16), **SMALL)
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                w = m.weight.flatten(1)
                gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
                assert torch.allclose(gram, torch.eye(len(gram)), atol=1e-5), m


def test_self_attention_sits_at_its_resolution():
    G, D = biggan.build((1, 32, 32), attention=16, **SMALL)
    for net in (G, D):
        assert sum(type(m).__name__ == "SelfAttention" for m in net.modules()) == 1
    with pytest.raises(ValueError, match="too few"):
        biggan.build((1, 32, 32), latent_dim=3)


def test_truncation_redraws_z_within_its_threshold_keeping_what_was_within():
    plain = torch.randn(20_000, 8, generator=torch.Generator().manual_seed(3))
    for threshold in (2.0, 0.5, 0.04):
        z = truncated_normal(20_000, 8, threshold, torch.Generator().manual_seed(3))
        assert z.abs().max() <= threshold
        within = plain.abs() <= threshold  # drawn first, and kept
        assert torch.equal(z[within], plain[within])
        assert not torch.equal(z[~within], plain[~within])
    # N(0, 1) cut at +-2: standard deviation sqrt(1 - 2 * 2 phi(2) / (2 Phi(2) - 1)) = 0.8796
    z = truncated_normal(200_000, 4, 2.0, torch.Generator().manual_seed(0))
    assert z.std().item() == pytest.approx(0.8796, abs=0.005)
    assert z.mean().item() == pytest.approx(0.0, abs=0.005)


def test_each_generator_truncates_where_its_class_says():
    G, _ = biggan.build((1, 8, 8), **SMALL)
    assert truncation_options(G, None) == (None, {})
    assert truncation_options(G, 0.5) == (0.5, {})  # a threshold for z
    assert latents(G, 4, 1, torch.device("cpu"), 0.5).abs().max() <= 0.5
    assert torch.equal(latents(G, 4, 1, torch.device("cpu")),
                       torch.randn(4, 20, generator=torch.Generator().manual_seed(1)))  # fmt: skip
    with pytest.raises(ConfigError, match="must be >= 0.01"):
        truncation_options(G, 0.001)
    G.eval()  # gan eval's samples: the same truncated latents, through the same G
    images = generate(G, 6, 3, torch.device("cpu"), truncation=0.5)
    z = truncated_normal(6, 20, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(images, to_unit_range(to_uint8(G(z))))
    SG, _ = stylegan2.build((1, 8, 8), latent_dim=8, w_dim=8, mapping_depth=1, channel_max=16)
    assert truncation_options(SG, 0.7) == (None, {"truncation": 0.7})  # psi, towards mean w
    DG, _ = dcgan.build((1, 8, 8), latent_dim=8, g_width=8, d_width=8)
    with pytest.raises(ConfigError, match="generator cannot be truncated"):
        truncation_options(DG, 0.7)


@pytest.mark.e2e
def test_a_conditional_biggan_trains_samples_and_refuses_what_it_cannot(workdir):
    run = workdir / "run"
    out = run_gan("train", "model=biggan", "model.conditional=true", "model.g_width=16",
                  "model.d_width=16", "steps=30", "eval.every=0", "log_every=10",
                  f"hydra.run.dir={run}", cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 30 and state["num_classes"] == 10
    sample = run_gan("sample", f"ckpt={run}", "class=3", "n=8", f"out={workdir / 's.png'}",
                     cwd=workdir)  # fmt: skip
    assert sample.returncode == 0 and (workdir / "s.png").stat().st_size > 0, sample.stderr
    for threshold in ("0.5", "2"):  # the truncation trick, in z
        out = workdir / f"t{threshold}.png"
        truncated = run_gan("sample", f"ckpt={run}", f"truncation={threshold}", "class=3",
                            "n=8", f"out={out}", cwd=workdir)  # fmt: skip
        assert truncated.returncode == 0 and out.stat().st_size > 0, truncated.stderr
    scores = {}  # gan eval too: the truncated samples measured as a protocol of their own
    for threshold in (None, 0.5):
        out = workdir / f"eval_{threshold}.json"
        extra = [f"truncation={threshold}"] if threshold else []
        measured = run_gan("eval", f"ckpt={run}", "samples=1000", f"out={out}", *extra,
                           cwd=workdir)  # fmt: skip
        assert measured.returncode == 0, measured.stderr
        scores[threshold] = json.loads(out.read_text())
    assert scores[0.5]["protocol"]["truncation"] == 0.5
    assert "truncation" not in scores[None]["protocol"]
    fids = [scores[t]["runs"][0]["metrics"]["fid"] for t in (None, 0.5)]
    assert fids[0] != fids[1]
    tiny_threshold = run_gan("sample", f"ckpt={run}", "truncation=0.001", cwd=workdir)
    assert "truncation=0.001: a threshold on |z| must be >= 0.01" in tiny_threshold.stderr
    small_z = run_gan("train", "model=biggan", "model.latent_dim=1", "steps=1", cwd=workdir)
    assert "model.latent_dim=1: must be >= 2 at 8 px" in small_z.stderr
