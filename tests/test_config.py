"""Real Hydra composition: every group choice composes and validates; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PLAIN, compose_train, spec_of
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ValidationError

from gan_cli.cli import config_dir
from gan_cli.errors import ConfigError

CONF = Path(config_dir())


def choices(group: str) -> list[str]:
    """The options of a group (`auto`, the stabilisers chosen for you, is not a stabiliser)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if p.stem != "auto")


def test_a_models_plain_defaults_are_the_dcgan_papers():
    """On a data set no model is tuned for: the DCGAN with Radford et al.'s optimiser."""
    cfg, spec = spec_of(*PLAIN)
    assert cfg.model._target_ == "gan_cli.models.dcgan.build"
    assert cfg.loss._target_.endswith("NonSaturating") and spec.stabilizers == {}
    assert (spec.optim.name, spec.optim.lr_g, spec.optim.lr_d) == ("adam", 2e-4, 2e-4)
    assert spec.optim.betas == [0.5, 0.999] and spec.optim.d_steps == 1


@pytest.mark.parametrize("model", choices("model"))
@pytest.mark.parametrize("loss", choices("loss"))
def test_every_model_and_loss_composes(model, loss):
    cfg, spec = spec_of(f"model={model}", f"loss={loss}", "dataset=digits")
    assert cfg.loss._target_.startswith("gan_cli.losses.")
    assert spec.model.latent_dim > 0


@pytest.mark.parametrize("dataset", [d for d in choices("dataset") if d != "folder"])
def test_every_dataset_composes(dataset):
    model = "mlp" if dataset in ("grid25", "ring8") else "dcgan"
    cfg, _ = spec_of(f"dataset={dataset}", f"model={model}")
    assert cfg.dataset._target_.startswith("gan_cli.data.")


def test_folder_needs_a_path():
    with pytest.raises(ConfigError, match="dataset.path"):
        spec_of("dataset=folder")
    _, spec = spec_of("dataset=folder", "dataset.path=/some/where")
    assert spec.dataset.path == "/some/where"


@pytest.mark.parametrize("device", choices("device"))
def test_every_device_composes(device):
    _, spec = spec_of(f"device={device}", "device.precision=bf16")
    assert spec.device.type == device and spec.device.precision == "bf16"


def test_wasserstein_selects_the_papers_optimiser_and_clipping_which_stay_overridable():
    cfg, spec = spec_of("loss=wasserstein", *PLAIN)
    assert (spec.optim.name, spec.optim.lr, spec.optim.d_steps) == ("rmsprop", 5e-5, 5)
    assert list(spec.stabilizers) == ["weight_clip"]
    assert spec.stabilizers["weight_clip"].clip == 0.01
    assert cfg.stabilizers.weight_clip._target_.endswith("WeightClip")
    _, spec = spec_of("loss=wasserstein", "optim.lr=1e-4", "optim.d_steps=3", *PLAIN)
    assert (spec.optim.lr_g, spec.optim.lr_d, spec.optim.d_steps) == (1e-4, 1e-4, 3)
    _, spec = spec_of("loss=wasserstein", "optim=dcgan", "stabilizers=[spectral_norm,ema]",
                      *PLAIN)  # fmt: skip
    assert (spec.optim.name, spec.optim.d_steps) == ("adam", 1)
    assert list(spec.stabilizers) == ["spectral_norm", "ema"]


def test_a_wasserstein_critic_without_a_lipschitz_constraint_is_refused():
    with pytest.raises(ConfigError, match="^loss=wasserstein needs a Lipschitz constraint"):
        spec_of("loss=wasserstein", "stabilizers=[ema]")


def test_wgan_gp_preset():
    _, spec = spec_of("experiment=wgan_gp")
    assert spec.loss._target_.endswith("Wasserstein") and list(spec.stabilizers) == [
        "gradient_penalty"]  # fmt: skip
    assert spec.stabilizers["gradient_penalty"].weight == 10.0
    assert (spec.optim.name, spec.optim.lr, spec.optim.betas) == ("adam", 1e-4, [0.0, 0.9])
    assert spec.optim.d_steps == 5 and spec.model.d_norm == "layer"


def test_a_tuned_model_brings_its_own_setting_for_a_loss_and_only_for_that_loss():
    """conf/tuned_loss/mlp/digits/wasserstein.yaml and conf/stabilizers/tuned/critic/: loss=
    wasserstein for the MLP on the digits keeps the MLP's stabilisers with a gradient penalty
    instead of weight clipping, and Adam; elsewhere the loss's own paper setting."""
    _, spec = spec_of("experiment=digits", "loss=wasserstein")
    assert list(spec.stabilizers) == ["r1", "ema", "gradient_penalty"]
    assert (spec.optim.name, spec.optim.betas, spec.optim.d_steps) == ("adam", [0.5, 0.9], 2)
    assert (
        spec.optim.lr == 1e-3 and spec.steps == 6000 and spec.model._target_.endswith("mlp.build")
    )
    _, plain = spec_of("loss=wasserstein", *PLAIN)  # the loss's own paper setting
    assert list(plain.stabilizers) == ["weight_clip"] and plain.optim.name == "rmsprop"
    _, hinge = spec_of("experiment=digits", "loss=hinge")  # no file for it: the recipe as is
    assert list(hinge.stabilizers) == ["r1", "ema"] and hinge.optim.d_steps == 1
    cfg = compose_train("experiment=digits", "loss=wasserstein", "optim.d_steps=5")
    assert cfg.optim.d_steps == 5  # the command line still has the last word


@pytest.mark.parametrize("preset", choices("experiment"))
def test_every_experiment_preset_composes_and_validates(preset):
    cfg, spec = spec_of(f"experiment={preset}")
    assert spec.steps >= 1 and cfg.loss._target_.startswith("gan_cli.losses.")


@pytest.mark.parametrize("stabilizer", choices("stabilizers"))
def test_every_stabilizer_composes_with_its_schema(stabilizer):
    model = ["model=stylegan2"] if stabilizer == "path_length" else ["model.d_norm=layer"]
    cfg = compose_train(f"stabilizers=[{stabilizer}]", *model)
    assert cfg.stabilizers[stabilizer]._target_.startswith("gan_cli.stabilizers.")
    _, spec = spec_of(f"stabilizers=[{stabilizer}]", *model)
    assert type(spec.stabilizers[stabilizer]).__name__.endswith("Config")


def test_separate_learning_rates():
    _, spec = spec_of("optim.lr=2e-4", "optim.lr_d=4e-4")
    assert (spec.optim.lr_g, spec.optim.lr_d) == (2e-4, 4e-4)


def test_experiment_preset_overrides_groups():
    cfg, spec = spec_of("experiment=grid25_mlp")
    assert cfg.model._target_.endswith("mlp.build") and cfg.dataset._target_.endswith("grid25")
    assert spec.steps == 8000 and spec.optim.lr == 1e-3


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("batch_size=0", "batch_size"),
        ("batch_size=-1", "batch_size"),
        ("steps=0", "steps"),
        ("optim.lr=-0.1", "optim.lr"),
        ("optim.lr_g=0", "optim.lr_g"),
        ("optim.d_steps=0", "optim.d_steps"),
        ("optim.betas=[0.5,1.5]", "optim.betas"),
        ("model.g_width=0", "model.g_width"),
        ("dataset.resolution=48", "dataset.resolution"),
        ("dataset.channels=2", "dataset.channels"),
        ("dataset=grid25", "model=dcgan"),
        ("eval.best=FID", "eval.best"),
        ("experiment=grid25 eval.best=spread", "eval.best"),  # 1 is right: not a ranking
        ("eval.samples=0", "eval.samples"),
        ("stabilizers=[ema] stabilizers.ema.half_life=0", "stabilizers.ema.half_life"),
        ("stabilizers=[r1] model.d_norm=none stabilizers.r1.gamma=-1", "stabilizers.r1.gamma"),
        ("stabilizers=[packing] stabilizers.packing.m=1", "stabilizers.packing.m"),
        ("micro_batches=0", "micro_batches"),
        ("model=mlp model.d_fourier=-1", "model.d_fourier"),
    ],
)
def test_out_of_range_values_fail_validation_naming_the_key(override, key):
    cfg = compose_train(*override.split())  # types are fine: composition succeeds ...
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        spec_of(*override.split())  # ... and validation names the key
    assert cfg is not None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=abc", "optim.lr"),
        ("batch_size=1.5", "batch_size"),
        ("device.precision=fp8", "device.precision"),
        ("optim.name=sgd", "optim.name"),
        ("model.d_norm=spectral", "model.d_norm"),
        ("stabilizers=[diffaugment] stabilizers.diffaugment.policy=[blur]", "policy"),
        ("optim=wgan optim.name=sgd", "optim.name"),
        ("loss=wasserstein", None),  # sanity: a valid choice composes
    ],
)
def test_wrong_types_fail_at_composition_naming_the_key(override, key):
    if key is None:
        compose_train(override)
        return
    with pytest.raises(ConfigCompositionException) as info:
        compose_train(*override.split())
    assert isinstance(info.value.__cause__, ValidationError)
    assert key in str(info.value.__cause__)


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["micro_batches=3"], "batch_size=64: must divide by micro_batches=3 x the number of "
                              "ranks (1)"),
        (["micro_batches=16", "stabilizers=[packing]", "stabilizers.packing.m=8"],
         "batch_size=64: must divide by stabilizers.packing.m=8 x 16 (ranks x micro_batches)"),
    ],
)  # fmt: skip
def test_micro_batches_must_split_the_batch_evenly(overrides, line):
    with pytest.raises(ConfigError) as info:
        spec_of(*overrides)
    assert str(info.value) == line
    _, spec = spec_of("micro_batches=4", "stabilizers=[packing]", "stabilizers.packing.m=4")
    assert spec.micro_batches == 4 and spec.forward_passes() == 4


def test_unknown_choice_and_unknown_key_fail_at_composition():
    with pytest.raises(MissingConfigException, match="model/foo"):
        compose_train("model=foo")
    with pytest.raises(ConfigCompositionException, match="optim.lrr"):
        compose_train("optim.lrr=1")


@pytest.mark.parametrize("n", [1, 3, 5, 9])
def test_too_few_evaluation_samples_are_refused_naming_the_key(n):
    with pytest.raises(ConfigError, match=rf"^eval\.samples={n}: must be >= 10"):
        spec_of(f"eval.samples={n}")
    _, spec = spec_of("eval.samples=10")
    assert spec.eval.samples == 10
    _, spec = spec_of("model=mlp", "dataset=grid25", f"eval.samples={n}")  # modes need only 1
    assert spec.eval.samples == n


def test_eval_samples_default_to_the_published_protocol_of_the_data():
    from gan_cli.metrics.protocol import default_samples

    assert spec_of()[1].eval.samples is None  # resolved by the kind of data:
    assert [default_samples(k) for k in ("modes", "stacked", "digits", "inception")] == [
        2500, 26000, 10000, 10000]  # fmt: skip


@pytest.mark.parametrize("penalty", ["gradient_penalty", "r1", "r2"])
def test_a_gradient_penalty_on_a_batch_norm_critic_is_refused(penalty):
    with pytest.raises(ConfigError) as info:
        spec_of("loss=hinge", f"stabilizers=[{penalty}]", "model.d_norm=batch")
    message = str(info.value)
    assert message.startswith(f"model.d_norm=batch: stabilizers=[{penalty}]")
    assert "model.d_norm=layer" in message and "experiment=wgan_gp" in message
    for norm in ("layer", "none"):
        _, spec = spec_of("loss=hinge", f"stabilizers=[{penalty}]", f"model.d_norm={norm}")
        assert spec.model.d_norm == norm


def test_group_choices_on_the_command_line_are_names_not_paths():
    from gan_cli.resume import check_group_choices

    for bad in ("model=../../x", "loss=/abs/x", "stabilizers=[ema,../x]", "experiment=~/x"):
        with pytest.raises(ConfigError, match="names an option, not a path"):
            check_group_choices([bad])
    check_group_choices(["model=mlp", "stabilizers=[ema,r1]", "steps=3", "dataset.path=/x/y"])


def test_zoo_settings_that_do_not_go_together_are_refused():
    with pytest.raises(ConfigError, match=r"packing\] packs samples of different classes"):
        spec_of("model.conditional=true", "stabilizers=[packing]")
    for size in (12, 32):  # 32 at 32 px: G has it, D does not (its first block halves)
        with pytest.raises(ConfigError, match=f"^model.attention={size}: must be 0 or 8 or 16$"):
            spec_of("model=resnet", "dataset.resolution=32", f"model.attention={size}")
    with pytest.raises(ConfigError, match="^dataset.resolution=48: model=stylegan2 builds 8"):
        spec_of("model=stylegan2", "dataset.resolution=48")
    with pytest.raises(ConfigError, match=r"^stabilizers.r1: settings for a stabiliser that is "):
        spec_of("stabilizers=[ema]", "+stabilizers.r1.gamma=1")
    # a model's tuned stabilisers carry their settings: an explicit list replaces both
    _, spec = spec_of("experiment=stylegan2_digits", "stabilizers=[ema]")
    assert list(spec.stabilizers) == ["ema"] and spec.stabilizers["ema"].half_life == 10_000
