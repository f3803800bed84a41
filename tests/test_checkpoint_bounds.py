"""Sizes a checkpoint declares, counts that allocate, and the fields read back on resume: each
bounded or checked before anything is allocated, one line naming the file and the field
(docs/security.md). One test per vector; all but the last run in-process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import compose_train, error_line, run_gan, spec_of, tiny

from gan_cli import checkpoint, sample, stored
from gan_cli.config import EvalCommandConfig, SampleConfig
from gan_cli.config.run import LimitsConfig
from gan_cli.errors import CheckpointError, ConfigError
from gan_cli.eval import data_node
from gan_cli.metrics.evaluate import better
from gan_cli.networks import build_networks
from gan_cli.provenance import provenance
from gan_cli.runtime import rng_state

RNG = rng_state(torch.device("cpu"))  # what a CPU run stores
SCALER = torch.amp.GradScaler("cpu").state_dict()  # what an fp16 run stores
MLP = {"_target_": "gan_cli.models.mlp.build", "latent_dim": 4, "hidden": 8, "depth": 2}
ADAM = {"step": torch.tensor(2.0), "exp_avg": torch.zeros(4), "exp_avg_sq": torch.zeros(4)}


def saved(path: Path, **state) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": checkpoint.FORMAT, **state}, path)
    return path


# ---- 1. sizes a checkpoint declares
@pytest.mark.parametrize(
    "tensor",
    [
        torch.zeros(1, dtype=torch.float64).expand(1_500_000_000),  # one element, stride 0
        torch.zeros(1003).as_strided((1000, 4), (1, 1)),  # overlapping windows
        torch.empty(10**9, device="meta"),  # a size without data
        torch.eye(3).to_sparse(),  # no storage of its own to measure
    ],
    ids=["expanded", "overlapping", "meta", "sparse"],
)
@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
def test_a_tensor_bigger_than_its_stored_data_is_refused_on_load(tmp_path, tensor):
    path = saved(tmp_path / "last.pt", opt_g={"state": {0: {"exp_avg": tensor}}})
    with pytest.raises(CheckpointError, match=r"last\.pt: field 'opt_g\.state\.0\.exp_avg' "):
        checkpoint.load(path)


def test_a_container_shared_or_holding_itself_is_walked_once(tmp_path):
    looped: list = [torch.zeros(2)]
    looped.append(looped)
    shared = [looped] * 2
    for _ in range(60):  # 2^60 paths, 60 containers
        shared = [shared, shared]
    path = saved(tmp_path / "last.pt", loop=shared, fine=torch.zeros(3)[1:])
    assert checkpoint.load(path)["fine"].shape == (2,)


@pytest.mark.parametrize(
    ("saved_state", "says"),
    [
        ({0: {**ADAM, "exp_avg": torch.zeros(3)}}, "state.0.exp_avg' has shape"),
        ({1: {**ADAM, "step": torch.zeros(2)}}, r"state.1.step' is not one count .*shape \[2\]"),
        ({1: {**ADAM, "step": torch.tensor(True)}}, "state.1.step' is not one count"),
        ({1: {**ADAM, "step": torch.tensor(float("inf"))}}, "state.1.step' is not one count"),
        ({1: torch.zeros(3)}, "is not an optimiser's state"),  # a tensor where a dict is
        ("bogus", "is not an optimiser's state"),
        # a missing moment is a KeyError at the first step; a step of 10**400 overflows there
        (
            {1: {"step": torch.tensor(2.0), "exp_avg": torch.zeros(4)}},
            "state.1' holds step, exp_avg; this optimiser keeps exp_avg, exp_avg_sq, step",
        ),
        ({1: {**ADAM, "step": 10**400}}, "state.1.step' is int, not a tensor"),
    ],
)
def test_optimiser_state_of_another_shape_or_kind_is_refused(saved_state, says):
    net = torch.nn.Linear(2, 4)
    opt = torch.optim.Adam(net.parameters())
    state = {"state": saved_state, "param_groups": [{"params": [0, 1]}]}
    with pytest.raises(CheckpointError, match=f"x.pt: field 'opt_g.*{says}"):
        stored.check_optimizer(state, opt, Path("x.pt"), "opt_g")
    with pytest.raises(CheckpointError, match="holds 1 parameters; this model has 2"):
        stored.check_optimizer({"state": {}, "param_groups": [{"params": [0]}]}, opt,
                               Path("x.pt"), "opt_g")  # fmt: skip


def mlp_checkpoint(path: Path, data_shape: list[int]) -> Path:
    G, _ = build_networks(MLP, [], tuple(data_shape))
    return saved(path, config={"model": MLP}, data_shape=data_shape, G=G.state_dict(), step=1)


def test_gan_sample_bounds_what_it_makes_by_the_data_shape(tmp_path):
    ckpt = mlp_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", [1, 32, 32])
    out = tmp_path / "s.png"
    cfg = SampleConfig(ckpt=str(ckpt), n=30_000, out=str(out), limits=LimitsConfig(data_gb=0.01))
    with pytest.raises(ConfigError, match=r"n: 30,000 samples of \[1, 32, 32\] would take"):
        sample.sample(None, cfg)
    assert not out.exists()


# ---- 2. data set sizes, and every count that allocates
@pytest.mark.parametrize(
    "overrides",
    [
        ("dataset=grid25", "model=mlp", "dataset.size=1900000000"),  # 15.2 GB at 8 B, 76 at 40
        ("dataset=stacked_digits", "dataset.size=300000000"),  # 7.2 GB at 24 B, 21.6 at 72
    ],
)
def test_a_data_set_is_bounded_by_its_peak_memory(overrides):
    with pytest.raises(ConfigError, match="dataset.size=.*limits.data_gb=16"):
        spec_of(*overrides)


def test_gan_eval_bounds_a_stored_size_as_the_data_set_takes_it(tmp_path):
    grid = {"_target_": "gan_cli.data.mixtures.grid25", "size": 1_900_000_000, "seed": 0}
    state = {"config": {"dataset": grid}, "data_shape": [2]}
    with pytest.raises(ConfigError, match=r"x.pt: config.dataset.size=1900000000: .* 76.0 GB"):
        data_node(state, Path("x.pt"), EvalCommandConfig(ckpt="x"))


POINTS = ("dataset=grid25", "model=mlp")  # 8 B a sample: only the count bounds them
IMAGES = ("dataset=fake", "dataset.resolution=64", "dataset.channels=3")  # 48 KB a sample


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ((*POINTS, "grid_size=500000000"), "grid_size=500,000,000: more than limits.samples"),
        ((*POINTS, "eval.samples=2000000000"), "eval.samples=2,000,000,000: more than"),
        ((*POINTS, "eval.reference_samples=2000000000"), "reference_samples=2,000,000,000: "),
        ((*POINTS, "batch_size=2000000000"), "batch_size=2,000,000,000: more than"),
        ((*IMAGES, "eval.samples=1000000"), "eval.samples: 1,000,000 samples of [3, 64, 64]"),
        # 8x8 digits are 256 B a sample, but the grid enlarges them to 32x32 and pads them, and
        # TensorBoard converts it to float32: the picture of a million would take 48.6 GB
        (("grid_size=1000000",), "grid_size: a picture of 1,000,000 samples would take 48.6 GB"),
    ],
)
def test_every_count_that_allocates_is_bounded(overrides, says):
    with pytest.raises(ConfigError) as caught:
        spec_of(*overrides)
    assert says in str(caught.value)


def test_the_command_line_raises_the_limits():
    spec_of(*IMAGES, "eval.samples=1000000", "limits.data_gb=100")
    spec_of("grid_size=1000000", "limits.data_gb=50")
    spec_of(*POINTS, "grid_size=2000000", "limits.samples=2000000")


@pytest.mark.parametrize(
    "make",
    [
        lambda: SampleConfig(ckpt="x", n=2_000_000_000),
        lambda: EvalCommandConfig(ckpt="x", samples=2_000_000_000),
        lambda: EvalCommandConfig(ckpt="x", reference_samples=2_000_000_000),
    ],
    ids=["sample-n", "eval-samples", "eval-reference"],
)
def test_the_counts_of_gan_sample_and_gan_eval_are_bounded(make):
    with pytest.raises(ConfigError, match="limits.samples=1,000,000"):
        make().check(None)


# ---- 3. fields read back on resume: one line naming the field
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("data", {"epoch": 2**70, "taken": 0}, "is not {epoch, taken}"),
        ("step", 2**70, "is not a whole number"),
        ("rng", {**RNG, "python": (3, (2**70,) * 625, None)}, "holds a python generator"),
        ("rng", {**RNG, "torch": torch.zeros(3)}, "holds a torch generator state"),
        ("config", {"model": MLP, "device": "cuda"}, "has a device that is not a dict"),
        ("scaler_g", {"scale": 2**70}, "is not a gradient scaler's state"),
        ("scaler_d", {**SCALER, "_growth_tracker": 2**40}, "is not a gradient scaler's"),
        ("provenance", {"device": "${oc.env:HOME}"}, "holds an interpolation"),
        ("noise_rng_device", "\x1b[31mcuda\nerror: forged", "is not one of cpu, cuda"),
        # numbers that are JSON and Python but no float, or no finite one: each would
        # overflow, or never be beaten, where it is used
        ("wall_s", 10**400, "is not seconds"),
        ("cpu_s", float("inf"), "is not seconds"),
        ("best", {"metric": "fid", "value": 10**400, "step": 5}, "a score and a count"),
        ("best", {"metric": "fid", "value": "1", "step": 5}, "a score and a count"),
        ("best", {"metric": "fid", "value": 1.0, "step": 2**70}, "a score and a count"),
        ("best", {"metric": "fid", "value": 1.0, "step": 5, "extra": 1}, "is not {metric"),
        ("stabilizers", {"ema": {"updates": 10**400}}, "is not a finite number"),
        ("stabilizers", {"diffaugment": {"seen": float("inf")}}, "is not a finite number"),
        # a key becomes an override key on replay: no `=`, `.` or `${` in it
        ("config", {"model": {**MLP, "x=1 +hydra.y": 1}}, "has a key that is not a short name"),
        ("config", {"model": MLP, "optim": {"lr.${oc.env:HOME}": 1}}, "not a short name"),
        # no setting needs more; a range check's isfinite() of it raised OverflowError
        ("config", {"model": {**MLP, "hidden": 2**2000}}, "hidden is a whole number beyond 64"),
    ],
)
def test_a_malformed_field_is_one_line_naming_it(name, value, says):
    with pytest.raises(CheckpointError, match=f"x.pt: field '{name}' ") as caught:
        stored.require({name: value}, Path("x.pt"), (name,))
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_groups_list_of_tensors_is_one_line():
    opt = torch.optim.Adam(torch.nn.Linear(2, 4).parameters())
    state = {"state": {}, "param_groups": [torch.zeros(3)]}
    with pytest.raises(CheckpointError, match="field 'opt_g' is not an optimiser's state"):
        stored.check_optimizer(state, opt, Path("x.pt"), "opt_g")


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1),  # keeps momentum_buffer None
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: torch.optim.RMSprop(ps),
        lambda ps: torch.optim.Adam(ps, amsgrad=True),
    ],
    ids=["sgd", "sgd-momentum", "rmsprop", "adam-amsgrad"],
)
def test_what_an_optimiser_stores_passes_the_check(make):
    net = torch.nn.Linear(2, 4)
    opt = make(net.parameters())
    torch.optim.lr_scheduler.StepLR(opt, 10)  # adds `initial_lr` to the group
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    fresh = make(torch.nn.Linear(2, 4).parameters())
    torch.optim.lr_scheduler.StepLR(fresh, 10)
    stored.check_optimizer(opt.state_dict(), fresh, Path("x.pt"), "opt_g")
    fresh.load_state_dict(opt.state_dict())


def test_what_a_run_stores_passes_the_checks():
    opt = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), amsgrad=True)
    opt.param_groups[0]["params"][0].grad = torch.ones(2, 2)
    opt.step()
    state = {"rng": [RNG, RNG], "scaler_g": SCALER,
             "scaler_d": {}, "provenance": provenance(torch.device("cpu")),
             "noise_rng_device": "cpu", "data": {"epoch": 3, "taken": 0},
             "best": {"metric": "fid", "value": None, "step": None}, "wall_s": 12.5,
             "stabilizers": {"ema": {"updates": 40}}, "opt_g": opt.state_dict()}  # fmt: skip
    stored.require(state, Path("x.pt"), tuple(state))
    stored.check_optimizer(state["opt_g"], opt, Path("x.pt"), "opt_g")
    for value in (6.5, float("inf"), float("nan")):  # reverse KL is inf with no mode hit
        state["best"] = {"metric": "fid", "value": value, "step": 3000}
        stored.require(state, Path("x.pt"), ("best",))


def test_a_diverged_score_never_becomes_the_best():
    assert not better("fid", float("nan"), None) and not better("precision", math.inf, 0.5)
    assert better("fid", 6.0, None) and better("fid", 6.0, 7.0)


@pytest.mark.parametrize(
    ("model", "says"),
    [
        # 50M Fourier projections: a buffer of 0.8 G values on [1, 16, 16] data (G is tiny)
        ({**MLP, "d_fourier": 50_000_000}, "parameters and buffers, over limits.params_m"),
        # a latent of 10**9 in a G one unit wide: 1,000M parameters, but 2 TB of noise for
        # the 500 samples an evaluation makes at once
        ({**MLP, "hidden": 1, "depth": 1, "latent_dim": 900_000_000}, "the noise of 500 samples"),
    ],
    ids=["fourier-buffer", "latent-noise"],
)
def test_a_stored_model_is_bounded_by_its_buffers_and_its_noise(tmp_path, model, says):
    path = saved(tmp_path / "run" / "checkpoints" / "last.pt", config={"model": model},
                 data_shape=[1, 16, 16], G={"w": torch.zeros(1)}, step=1)  # fmt: skip
    with pytest.raises((ConfigError, CheckpointError), match=f"last.pt: .*{says}"):
        sample.load_generator(path, torch.device("cpu"), limits=LimitsConfig(params_m=1000))


def test_gan_sample_bounds_the_noise_it_draws(tmp_path):
    ckpt = mlp_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", [2])
    cfg = SampleConfig(ckpt=str(ckpt), n=400_000, out=str(tmp_path / "s.pt"),
                       limits=LimitsConfig(data_gb=0.005))  # fmt: skip
    with pytest.raises(
        ConfigError, match="n: the noise of 400,000 samples would take .* over limits.data_gb=0.005"
    ):
        sample.sample(None, cfg)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SampleConfig(ckpt="x", seed=2**70),
        lambda: SampleConfig(ckpt="x", interpolate=[1, -1]),
        lambda: EvalCommandConfig(ckpt="x", seed=-3),
        lambda: EvalCommandConfig(ckpt="x", seed=True),
    ],
    ids=["sample-seed", "interpolate", "eval-seed", "bool"],
)
def test_a_seed_outside_what_generators_take_is_one_line(make):
    with pytest.raises(ConfigError, match=r"must be a whole number in \[0, 2\*\*32\)"):
        make().check(None)


@pytest.mark.parametrize("key", ["seed", "eval.seed", "dataset.seed"])
def test_a_stored_or_typed_seed_is_range_checked(key):
    extra = ("dataset=stacked_digits",) if key == "dataset.seed" else ()
    with pytest.raises(ConfigError, match=f"{key}=1180591620717411303424: must be a whole"):
        spec_of(*extra, f"{key}={2**70}")


@pytest.mark.parametrize("step", ["9", None, -1], ids=["text", "missing", "negative"])
def test_a_best_pt_with_a_malformed_step_is_moved_aside_not_trusted(tmp_path, step):
    """Its step decides whether it belongs to the timeline being continued; one that is no
    count is set aside (as an unreadable one is), kept, and never compared."""
    extra = {} if step is None else {"step": step}
    saved(tmp_path / "best.pt", **extra)
    checkpoint.prepare_resume(tmp_path, 2)
    assert not (tmp_path / "best.pt").exists()
    (aside,) = tmp_path.glob("superseded_*")
    assert (aside / "best.pt").is_file()


# ---- end to end: the optimiser's shapes are checked where a resume loads them
@pytest.mark.e2e
def test_resuming_optimiser_state_of_another_shape_is_one_line(tmp_path):
    run = tmp_path / "run"
    out = run_gan("train", *tiny("dataset.resolution=16", "steps=1", "eval.every=0"),
                  f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    state["opt_d"]["state"][0]["exp_avg"] = torch.zeros(3)
    for old in (run / "checkpoints").glob("*.pt"):
        old.unlink()
    torch.save(state, run / "checkpoints" / "last.pt")
    line = error_line(run_gan("train", f"resume={run}", "steps=2", cwd=tmp_path))
    assert "last.pt: field 'opt_d.state.0.exp_avg' has shape [3]" in line


@pytest.mark.e2e
def test_a_conditional_grid_is_bounded_by_its_row_per_class(tmp_path):
    """grid_size=4 of a 10-class model makes 10 samples (a row per class): the picture is
    checked at 10 (485 KB here), not 4 (194 KB), before anything is trained."""
    out = run_gan("train", *tiny("model=resnet", "model.conditional=true", "grid_size=4",
                                 "limits.data_gb=0.0003", "eval.samples=100",
                                 "eval.reference_samples=100"), cwd=tmp_path)  # fmt: skip
    assert "grid_size: a picture of 10 samples would take" in error_line(out)
    assert not list(tmp_path.glob("outputs/*/*/checkpoints"))  # refused before training


@pytest.mark.e2e
def test_a_best_score_no_run_could_beat_is_not_kept_on_resume(tmp_path):
    """A stored best of inf modes (crafted; a -inf FID alike) would keep best.pt from ever
    being written again: on resume it counts as no best yet, and the next evaluation writes
    best.pt."""
    run = tmp_path / "run"
    args = tiny("model=mlp", "dataset=grid25", "eval.every=2", "eval.samples=500")
    out = run_gan("train", *args, "steps=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    last = run / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    assert state["best"]["metric"] == "modes"  # higher is better
    state["best"] = {**state["best"], "value": math.inf}
    for old in (run / "checkpoints").glob("*.pt"):
        old.unlink()
    torch.save(state, last)
    out = run_gan("train", *args, "steps=4", f"hydra.run.dir={run}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert checkpoint.load(run / "checkpoints" / "best.pt")["best"]["step"] == 4


def test_many_samples_are_made_a_part_at_a_time_and_equal_one_pass():
    """The sample grid (any grid_size) and `gan sample n=` go through G PART samples at a time:
    G's activations are bounded by the part, not by the count asked for."""
    from gan_cli.generation import PART, generate_in_parts

    torch.manual_seed(0)
    G, _ = build_networks(compose_train(*tiny()).model, [], (1, 8, 8), num_classes=10)
    G.eval()
    seen: list[int] = []
    G.register_forward_pre_hook(lambda _, args: seen.append(len(args[0])))
    z, c = torch.randn(2 * PART + 7, G.latent_dim), torch.arange(2 * PART + 7) % 10
    with torch.no_grad():
        parts = generate_in_parts(G, z, c)
        whole = G(z, c)
    assert seen == [PART, PART, 7, 2 * PART + 7]
    torch.testing.assert_close(parts, whole)


@pytest.mark.parametrize("model", ["stylegan2", "dcgan"])  # a walk in w, a walk in z
def test_an_interpolation_of_many_samples_is_made_a_part_at_a_time(model):
    from gan_cli.generation import PART

    torch.manual_seed(0)
    G, _ = build_networks(compose_train(*tiny(f"model={model}")).model, [], (1, 8, 8))
    G.eval()
    net = G.synthesis if model == "stylegan2" else G
    seen: list[int] = []
    net.register_forward_pre_hook(lambda _, args: seen.append(len(args[0])))
    with torch.no_grad():
        x = sample.interpolation(G, SampleConfig(ckpt="x", n=PART + 3, interpolate=[1, 2]), None,
                                 torch.device("cpu"))  # fmt: skip
    assert seen == [PART, 3] and x.shape == (PART + 3, 1, 8, 8) and torch.isfinite(x).all()
