"""The commands people type are the tuned ones: plain `gan train`, `gan train model=X loss=Y` and
the plain loss sweep compose each model's own settings for the default data set (conf/tuned/,
conf/stabilizers/tuned/), a value or list given on the command line wins, other data sets get
the models' plain defaults, and a run made before the defaults changed resumes with its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import run_gan, spec_of

from gan_cli import checkpoint
from gan_cli.losses.minimax import Minimax
from gan_cli.replay import REPLAYED_GROUPS

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ("minimax", "non_saturating", "wasserstein", "hinge")  # the README's plain sweep
# conf/model/ options built by gan_cli's own models (a new model joins this test by its YAML)
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))


def test_plain_gan_train_is_the_tuned_dcgan_on_the_digits_and_what_make_train_runs():
    cfg, spec = spec_of()
    assert cfg.model._target_ == "gan_cli.models.dcgan.build"
    assert spec.dataset.resolution == 8 and spec.model.extra_layers == 2
    assert list(spec.stabilizers) == ["r1", "ema"] and spec.model.d_norm == "none"
    make = (ROOT / "Makefile").read_text()
    train = re.search(r"^train: .*\n((?:\t.*\n)+)", make, re.M).group(1)
    assert train.strip() == "$(BIN)/gan train $(ARGS)"


@pytest.mark.parametrize("model", MODELS)
def test_each_model_brings_its_digits_settings_and_explicit_choices_win(model):
    _, spec = spec_of(f"model={model}")
    assert spec.dataset.resolution == 8  # the digits' own size, for every model
    assert spec.stabilizers, "a tuned model on the digits brings its stabilisers"
    assert spec.optim.lr != 2e-4  # each its own learning rate, none the DCGAN paper's
    _, mine = spec_of(f"model={model}", "dataset.resolution=16", "stabilizers=[ema]",
                      "optim.lr=1e-4", "steps=77")  # fmt: skip
    assert mine.dataset.resolution == 16 and list(mine.stabilizers) == ["ema"]
    assert mine.optim.lr == 1e-4 and mine.steps == 77
    _, none = spec_of(f"model={model}", "stabilizers=[]")
    assert none.stabilizers == {}


@pytest.mark.parametrize("loss", SWEEP)
def test_the_plain_loss_sweep_composes_each_loss_at_its_setting(loss):
    cfg, spec = spec_of(f"loss={loss}")
    assert spec.model.extra_layers == 2 and spec.dataset.resolution == 8  # the tuned DCGAN
    names = list(spec.stabilizers)
    if loss == "wasserstein":  # a critic: the gradient penalty instead of weight clipping
        assert "gradient_penalty" in names and "weight_clip" not in names
    else:
        assert names == ["r1", "ema"]
    assert cfg.loss._target_.endswith(
        {
            "minimax": "Minimax",
            "non_saturating": "NonSaturating",
            "hinge": "Hinge",
            "wasserstein": "Wasserstein",
        }[loss]  # fmt: skip
    )


LOSSES = sorted(p.stem for p in (ROOT / "conf" / "loss").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_model_with_every_loss_keeps_its_tuned_optimiser(model, loss):
    """A loss that brings its paper's optimiser (loss=wasserstein: RMSprop, 5 critic steps)
    gets the model's tuned one on the digits instead (conf/tuned_loss/<model>/digits/<loss>):
    `gan train model=X loss=Y` is a tuned run for every pair, a model added later included."""
    _, alone = spec_of(f"model={model}")
    _, spec = spec_of(f"model={model}", f"loss={loss}")
    assert (spec.optim.name, spec.optim.lr) == (alone.optim.name, alone.optim.lr), (
        "no conf/tuned_loss/ file for this pair")  # fmt: skip


@pytest.mark.parametrize("model", ["resnet", "stylegan2"])
def test_a_critic_penalty_runs_lazily_where_r1_does(model):
    """Its double backward at every step made the ResNet's WGAN-GP the one sweep run over the
    time target (docs/results.md); the DCGAN's stays at every step, as measured."""
    _, lazy = spec_of(f"model={model}", "loss=wasserstein")
    assert lazy.stabilizers["gradient_penalty"].every == lazy.stabilizers["r1"].every == 4
    assert lazy.optim.d_steps == 1
    _, dcgan = spec_of("model=dcgan", "loss=wasserstein")
    assert dcgan.stabilizers["gradient_penalty"].every == 1


def test_minimax_in_the_sweep_is_still_the_saturating_objective():
    """G minimises log(1 - D(G(z))) = -softplus(s), not -log D(G(z)) = softplus(-s)."""
    scores = torch.tensor([-3.0, 0.0, 2.5])
    d = torch.sigmoid(scores)
    assert torch.allclose(Minimax().g_loss(scores), torch.log1p(-d).mean(), atol=1e-6)
    assert not torch.allclose(Minimax().g_loss(scores), F.softplus(-scores).mean())


@pytest.mark.parametrize("dataset", ["cifar10", "mnist", "folder"])
def test_other_data_sets_get_the_models_plain_defaults(dataset):
    extra = ["dataset.path=/any/images"] if dataset == "folder" else []
    _, spec = spec_of(f"dataset={dataset}", *extra)
    assert spec.stabilizers == {} and spec.model.extra_layers == 0
    assert spec.model.d_norm == "batch" and spec.optim.lr == 2e-4
    assert spec.dataset.resolution == (64 if dataset == "folder" else 32)


@pytest.mark.e2e
def test_a_run_made_with_the_old_defaults_resumes_with_its_own_settings(workdir):
    """A checkpoint as plain `gan train` wrote it before this version (no recorded choices, no
    overrides, the DCGAN at a batch-norm D, lr 2e-4, no stabilisers, no `extra_layers` key):
    resumed today, it keeps every one of those settings, not the tuned defaults."""
    run = workdir / "old"
    old = ["stabilizers=[]", "dataset.resolution=16", "model.d_norm=batch", "model.extra_layers=0",
           "model.g_width=8", "model.d_width=8", "model.latent_dim=100", "optim.lr=2e-4",
           "optim.betas=[0.5,0.999]", "optim.decay=none", "steps=2", "eval.every=0"]  # fmt: skip
    out = run_gan("train", *old, f"hydra.run.dir={run}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    last = run / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    state.pop("choices")
    state["overrides"] = []
    del state["config"]["model"]["extra_layers"]
    for path in (run / "checkpoints").glob("*.pt"):
        path.unlink()
    torch.save(state, last)
    out = run_gan("train", f"resume={run}", "steps=4", cwd=workdir)
    assert out.returncode == 0, out.stderr
    resumed = checkpoint.load(last)
    config = resumed["config"]
    assert resumed["step"] == 4 and config["stabilizers"] == {}
    assert config["optim"]["lr"] == 2e-4 and config["optim"]["betas"] == [0.5, 0.999]
    for opt in ("opt_g", "opt_d"):  # what each optimiser stepped with, not only the config
        group = resumed[opt]["param_groups"][0]
        assert group["lr"] == 2e-4 and list(group["betas"]) == [0.5, 0.999], (opt, group)
    assert config["optim"]["decay"] == "none" and config["dataset"]["resolution"] == 16
    assert config["model"]["d_norm"] == "batch" and config["model"]["extra_layers"] == 0
    assert {g: resumed["choices"][g] for g in REPLAYED_GROUPS} == {
        "model": "dcgan", "dataset": "digits", "loss": "non_saturating"}  # fmt: skip
