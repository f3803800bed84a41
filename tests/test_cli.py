"""The installed `gan` command, end to end, in subprocesses: what a run writes and how bad
input is refused."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from conftest import GAN, PREFORKED, gan_env, pin_layout, read_events, run_gan, tiny
from omegaconf import OmegaConf
from test_config import choices

from gan_cli import checkpoint
from gan_cli.argv import added_stabilizers
from gan_cli.models import dcgan
from gan_cli.report import read_overrides

SHORT = ["steps=6", "log_every=3", "sample_every=3", "ckpt_every=3", "grid_size=16"]


def test_front_lists_the_verbs_and_refuses_unknown_ones(workdir):
    out = run_gan("--help", cwd=workdir)
    assert out.returncode == 0 and "train" in out.stdout and "usage: gan VERB" in out.stdout
    out = run_gan("trian", cwd=workdir)
    assert out.returncode == 2 and "unknown verb 'trian'" in out.stderr


def test_a_forked_command_is_the_console_script_in_its_own_process(workdir):
    """conftest runs most commands forked from a server that has done gan's imports
    (tests/prefork.py): each must give what the installed console script gives, started
    afresh: exit status, stdout, stderr."""
    for args in (["--help"], ["trian"], ["train", "batch_size=0"],
                 ["train", "--cfg", "job", "model=mlp", "dataset=ring8"]):  # fmt: skip
        real = subprocess.run([GAN, *pin_layout(tuple(args))], cwd=workdir, env=gan_env(),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        spawned = PREFORKED.spawned
        forked = run_gan(*args, cwd=workdir)
        assert PREFORKED.spawned == spawned + 1, "not forked"
        assert forked.returncode == real.returncode, (args, forked.stderr, real.stderr)
        assert (forked.stdout, forked.stderr) == (real.stdout, real.stderr), args


def test_train_help_is_hydras_with_the_config_groups(workdir):
    out = run_gan("train", "--help", cwd=workdir)
    assert out.returncode == 0
    for group in (f"model: {MODELS}", "loss:", "dataset:", "device: auto, cpu, cuda"):
        assert group in out.stdout


def test_cfg_job_prints_the_composed_config(workdir):
    out = run_gan("train", "--cfg", "job", "model=mlp", "dataset=ring8", cwd=workdir)
    assert out.returncode == 0
    cfg = OmegaConf.create(out.stdout)
    assert cfg.model._target_ == "gan_cli.models.mlp.build" and cfg.dataset.size == 100000
    assert not (workdir / "outputs").exists()


def test_auto_in_a_stabiliser_list_adds_to_the_runs_own_set(workdir):
    """`stabilizers=[auto,x]`: the tuned set (or a preset's) plus x, with the tuned values."""
    for args, want in (
        (["model=biggan", "stabilizers=[auto,orthogonal]"], ["r1", "ema", "orthogonal"]),
        (["experiment=wgan_gp", "stabilizers=[auto,orthogonal]"], ["gradient_penalty",
                                                                   "orthogonal"]),
        (["stabilizers=[auto]"], ["r1", "ema"]),
    ):  # fmt: skip
        out = run_gan("train", "--cfg", "job", *args, cwd=workdir)
        assert out.returncode == 0, out.stderr
        cfg = OmegaConf.create(out.stdout)
        assert [k for k, v in cfg.stabilizers.items() if v is not None] == want, args
        if "r1" in want:
            assert cfg.stabilizers.r1.every == 4  # the tuned value, not the schema's 1
    run = workdir / "run" / ".hydra"  # `gan report` shows it as typed
    run.mkdir(parents=True)
    (run / "overrides.yaml").write_text("- +stabilizers@stabilizers=[orthogonal]\n- loss=hinge\n")
    assert read_overrides(run.parent) == {"stabilizers": "[auto,orthogonal]", "loss": "hinge"}
    sweep = ["stabilizers=[auto],[auto,orthogonal]", "loss=hinge"]  # Hydra's way of adding
    assert added_stabilizers(sweep) == ["+stabilizers@stabilizers=[],[orthogonal]", "loss=hinge"]
    swept = run_gan("train", "--multirun", "stabilizers=[auto,ema],[r1]", cwd=workdir)
    assert swept.returncode == 1
    assert "error: stabilizers=[auto,ema],[r1]: auto stands for the run's own" in swept.stderr


@pytest.mark.e2e
def test_a_run_writes_config_events_samples_metrics_and_a_loadable_checkpoint(workdir):
    run_dir = workdir / "run"
    out = run_gan("train", *tiny(*SHORT), f"hydra.run.dir={run_dir}", cwd=workdir)
    assert out.returncode == 0, out.stderr

    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").steps == 6
    # the checkpoint loads safely and its G rebuilds from its own config
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert state["step"] == 6 and state["config"]["model"]["g_width"] == 8
    model = {k: v for k, v in state["config"]["model"].items() if k != "_target_"}
    G, D = dcgan.build((1, 8, 8), **model)  # the digits' 8 px
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt")) == [
        "step_0000003.pt",
        "step_0000006.pt",
    ]
    with torch.no_grad():
        assert G.eval()(state["fixed_z"]).shape == (16, 1, 8, 8)

    # TensorBoard: the scalars at each log step, the sample grid, the hyper-parameters
    events = read_events(run_dir)
    for tag in ("Loss/D", "Loss/G", "D/real", "D/fake"):
        assert [e.step for e in events.Scalars(tag)] == [3, 6]
    assert [e.step for e in events.Images("samples")] == [3, 6]
    hp = hparams_of(events)
    # the tuned DCGAN's learning rate (conf/tuned/dcgan/digits.yaml)
    assert hp["optim.lr"].number_value == 1e-3 and hp["model"].string_value == "dcgan"
    assert hp["loss"].string_value == "non_saturating"
    # add_hparams would have made a second, timestamped run: there is exactly one event file
    assert len(list(run_dir.rglob("events.out.tfevents.*"))) == 1

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "Loss/D" in r] == [3, 6]
    assert [r["step"] for r in rows if "Metrics/fid" in r] == [6]  # digits: evaluated at the end
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "samples_0000003.png",
        "samples_0000006.png",
    ]
    assert "step 6/6" in (run_dir / "train.log").read_text()


@pytest.mark.e2e
def test_four_loss_multirun_writes_four_runs(workdir):
    sweep = workdir / "sweep"
    losses = ["minimax", "non_saturating", "wasserstein", "hinge"]
    out = run_gan(
        "train",
        "--multirun",
        f"loss={','.join(losses)}",
        *tiny("steps=2", "log_every=1", "eval.every=0"),  # no metrics asked: 9 s a job less
        f"hydra.sweep.dir={sweep}",
        cwd=workdir,
    )
    assert out.returncode == 0, out.stderr
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "checkpoints").is_dir())
    assert len(runs) == 4
    # job number first, then every override of the job: side by side in TensorBoard
    assert all(
        r.name.startswith(f"{i}_") and f"loss={loss}" in r.name
        for i, (r, loss) in enumerate(zip(runs, losses, strict=True))
    )
    targets = {"minimax": "Minimax", "non_saturating": "NonSaturating",
               "wasserstein": "Wasserstein", "hinge": "Hinge"}  # fmt: skip
    for run, loss in zip(runs, losses, strict=True):
        assert f"loss={loss}" in OmegaConf.load(run / ".hydra" / "overrides.yaml")
        config = checkpoint.load(run / "checkpoints" / "last.pt")["config"]
        assert config["loss"]["_target_"].endswith(f".{targets[loss]}")  # each job its own loss
        assert [e.step for e in read_events(run).Scalars("Loss/G")] == [1, 2]
        assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == 2


MODELS = ", ".join(choices("model"))


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model=foo", f"error: model=foo: no such choice; choose from {MODELS}"),
        ("batch_size=-1", "error: batch_size=-1: must be >= 1"),
        ("optim.lr=abc", "optim.lr"),
        ("dataset=folder", "dataset.path"),
        ("dataset=grid25", "model=dcgan needs an image data set"),
        # Hydra's own ValueError for a group set to null, which names neither
        ("model=null", "error: model=null: a config group takes one of its choices, not null"),
        ("tuned@_global_=null", "error: tuned@_global_=null: a config group takes one of"),
        # a whole number no float holds: its range check raised OverflowError
        pytest.param(
            f"model=mlp dataset=grid25 model.hidden={2**2000}",
            "error: model: the model cannot be built",
            id="hidden=2**2000",
        ),
        # a preset's value that another choice does not take: the key and the file that set it
        (
            "experiment=sngan model=mlp",
            "error: model.g_width: Key 'g_width' not in "
            "'MLPConfig' (set by conf/experiment/sngan.yaml)\n",
        ),
    ],
)
def test_bad_overrides_exit_non_zero_naming_the_key(workdir, override, expected):
    out = run_gan("train", *override.split(), "steps=1", cwd=workdir)
    assert out.returncode != 0
    assert expected in out.stderr
    assert not list(workdir.rglob("*.pt")), "nothing trained"


def test_a_refused_config_leaves_no_run_folder_and_touches_a_users_folder_not(tmp_path):
    out = run_gan("train", "batch_size=0", cwd=tmp_path)
    assert out.returncode == 1 and "batch_size=0" in out.stderr
    assert not (tmp_path / "outputs").exists(), "the folders this run made removed again"
    (tmp_path / "outputs").mkdir()  # made by the user before the run: it stays, empty
    out = run_gan("train", "batch_size=0", cwd=tmp_path)
    assert out.returncode == 1 and not list((tmp_path / "outputs").iterdir())
    assert (tmp_path / "outputs").is_dir()
    empty = tmp_path / "empty"  # a user's empty folder above the run dir they named: stays
    empty.mkdir()
    out = run_gan("train", "batch_size=0", f"hydra.run.dir={empty}/run", cwd=tmp_path)
    assert out.returncode == 1 and empty.is_dir()
    assert not list(empty.rglob("*.log")) and not list(empty.rglob(".hydra")), "records go"
    mine = tmp_path / "mine"  # a folder of the user's, named as the run dir: left alone
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    out = run_gan("train", "batch_size=0", f"hydra.run.dir={mine}", cwd=tmp_path)
    assert out.returncode == 1 and (mine / "notes.txt").read_text() == "keep"


def test_missing_folder_is_one_line_and_a_non_zero_exit(workdir):
    out = run_gan(
        "train",
        "dataset=folder",
        f"dataset.path={workdir / 'nope'}",
        f"hydra.run.dir={workdir}/r",
        cwd=workdir,
    )
    assert out.returncode == 1
    assert (
        out.stderr.strip().splitlines()[-1]
        == f"error: dataset.path={workdir / 'nope'}: no such folder"
    )
    assert "Traceback" not in out.stderr


def hparams_of(events) -> dict:
    """The hyper-parameters a run registered for TensorBoard's HParams tab."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    assert {m.name.tag for m in experiment.experiment.metric_infos} >= {"Loss/D", "Loss/G"}
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return dict(start.session_start_info.hparams)


@pytest.mark.e2e
def test_compiled_training_runs_on_the_cpu(workdir):
    """device.compile=true: torch.compile'd G and D through the alternating updates."""
    run_dir = workdir / "run"
    out = run_gan("train", *tiny("device.compile=true", "steps=3", "eval.every=0"),
                  f"hydra.run.dir={run_dir}", cwd=workdir, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert state["step"] == 3 and not any(k.startswith("_orig_mod") for k in state["G"])


def test_tab_completion_through_the_gan_front(workdir):
    """The script `gan completion bash` prints, in a real bash, offers verbs, then each
    verb's groups, choices and keys (Hydra's own completion, fed the line without the verb)."""
    import shutil
    import subprocess
    from pathlib import Path

    from conftest import GAN

    script = workdir / "complete.sh"
    script.write_text(f"""
eval "$({GAN} completion bash)"
complete_line() {{
    COMP_LINE="$1"; COMP_POINT=${{#1}}
    read -ra COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    _gan_completion
    echo "${{COMPREPLY[@]}}"
}}
complete_line "gan tr"
complete_line "gan train model="
complete_line "gan train loss=h"
complete_line "gan train optim.l"
""")
    assert shutil.which("bash")
    env = {"PATH": f"{Path(GAN).parent}:/usr/bin:/bin"}
    out = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "train"
    assert set(lines[1].split()) == {f"model={m}" for m in choices("model")}
    assert lines[2] == "loss=hinge"
    assert set(lines[3].split()) == {"optim.lr=", "optim.lr_d=", "optim.lr_g="}


def test_torchvision_is_imported_only_where_images_need_it():
    """torchvision takes seconds to import (it pulls in torch._dynamo); every `gan` process of
    a 2-D run, and `gan sample`/`gan eval` of one, would pay that for nothing. Image code
    imports it where it is used (grids, resizing, folders, the Inception network)."""
    import subprocess
    import sys

    code = "\n".join([
        "import importlib, pkgutil, sys",
        "import gan_cli.train, gan_cli.sample, gan_cli.eval, gan_cli.report",
        "from gan_cli.registry import PACKAGES",
        "for p in PACKAGES.values():",
        "    for m in pkgutil.iter_modules(importlib.import_module(p).__path__, p + '.'):",
        "        importlib.import_module(m.name)",
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))",
    ])  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
