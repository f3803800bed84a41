"""Runs that survive kills, pre-emption, divergence and bad input (real processes, real files)."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    error_line,
    read_events,
    run_gan,
    start_gan,
    straight_and_killed,
    tiny,
    wait_for,
)
from PIL import Image
from test_config import choices

from gan_cli import checkpoint
from gan_cli.errors import ConfigError, GanError
from gan_cli.registry import build
from gan_cli.resume import latest, resume_argv

pytestmark = pytest.mark.e2e


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_equal(a: dict, b: dict) -> bool:
    return all(
        a[net].keys() == b[net].keys() and all(torch.equal(a[net][k], b[net][k]) for k in a[net])
        for net in ("G", "D")
    )


def test_sigkill_then_resume_is_bit_exact_and_tensorboard_has_each_step_once(workdir):
    N = 20  # checkpoint at N, run to 2N; full-size DCGAN on digits, batch norm included
    # evaluation between steps must not disturb the training's random streams
    args = ["steps=40", f"ckpt_every={N}", "log_every=10", "sample_every=20", "eval.every=10",
            "eval.samples=200"]  # fmt: skip
    _, killed = straight_and_killed(workdir, args, N)

    a = checkpoint.load(workdir / "a" / "checkpoints" / "last.pt")
    b = checkpoint.load(killed / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 2 * N
    assert weights_equal(a, b)

    # TensorBoard reads one point per logged step, with the values of the uninterrupted run
    ea, eb = read_events(workdir / "a"), read_events(killed)
    for tag in ("Loss/D", "Loss/G", "D/real", "D/fake", "Metrics/fid", "Metrics/precision"):
        assert [e.step for e in eb.Scalars(tag)] == [10, 20, 30, 40]
        assert [e.value for e in eb.Scalars(tag)] == [e.value for e in ea.Scalars(tag)]
    assert [e.step for e in eb.Images("samples")] == [20, 40]
    rows = [json.loads(r) for r in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "Loss/D" in r] == [10, 20, 30, 40]
    assert [r["step"] for r in rows if "Metrics/fid" in r] == [10, 20, 30, 40]
    assert b["best"] == a["best"] and b["best"]["step"] in (10, 20, 30, 40)


def test_a_run_with_several_stabilizers_resumes_bit_exact_after_sigkill(workdir):
    """Spectral norm, adaptive DiffAugment, EMA and lazy R1 at once, in bf16 autocast: every
    weight, average and stabiliser state as in an uninterrupted run. (fp16 and its grad
    scalers are refused on the CPU, where fp16 is emulated: test_cuda covers them.)"""
    N = 12
    args = tiny("stabilizers=[spectral_norm,diffaugment,ema,r1]", "model.d_norm=none",
                "stabilizers.r1.every=2", "stabilizers.diffaugment.adaptive=true",
                "stabilizers.diffaugment.interval=3", "stabilizers.diffaugment.adjust_images=500",
                "stabilizers.ema.half_life=100", "device.precision=bf16", "optim.d_steps=2",
                f"steps={2 * N}", f"ckpt_every={N}", "log_every=4", "eval.every=0")  # fmt: skip
    _, killed = straight_and_killed(workdir, args, N)
    a = checkpoint.load(workdir / "a" / "checkpoints" / "last.pt")
    b = checkpoint.load(killed / "checkpoints" / "last.pt")
    assert weights_equal(a, b) and a["step"] == b["step"] == 2 * N
    assert all(torch.equal(a["G_ema"][k], b["G_ema"][k]) for k in a["G_ema"])
    assert a["stabilizers"]["ema"]["updates"] == 2 * N
    aug_a, aug_b = a["stabilizers"]["diffaugment"], b["stabilizers"]["diffaugment"]
    assert torch.equal(aug_a["p"], aug_b["p"]) and aug_a["p"] > 0  # ADA moved p, identically
    assert torch.equal(aug_a["sign_sum"], aug_b["sign_sum"]) and aug_a["seen"] == aug_b["seen"]


def test_sigkill_at_random_moments_leaves_a_loadable_last_checkpoint(workdir):
    rng = random.Random(1234)
    run_dir = workdir / "run"
    # a checkpoint every step (22 MB with Adam state): kills often land inside a write
    args = ["steps=100000", "ckpt_every=1", "ckpt_keep=2", f"hydra.run.dir={run_dir}"]
    steps_seen = [0]
    for _ in range(3):
        proc = start_gan("train", *args, cwd=workdir)
        # wait until this process has saved once (it resumes from the last one) ...
        wait_for(run_dir / "checkpoints" / f"step_{steps_seen[-1] + 1:07d}.pt", proc)
        time.sleep(rng.uniform(0.0, 0.5))  # ... then kill it anywhere, mid-write included
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        state = checkpoint.load(run_dir / "checkpoints" / "last.pt")  # whole, never torn
        for kept in (run_dir / "checkpoints").glob("step_*.pt"):
            checkpoint.load(kept)  # every finished file is whole
        newest = checkpoint.load(latest(run_dir / "checkpoints"))["step"]
        assert newest - state["step"] in (0, 1)  # last.pt at most one save behind
        steps_seen.append(newest)
    assert steps_seen == sorted(set(steps_seen)), steps_seen  # each run went on from the last


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_saves_a_checkpoint_and_resume_continues_from_it(workdir, sig):
    run_dir = workdir / "run"
    args = tiny("steps=100000", "ckpt_every=100000", "log_every=1000", "eval.every=0")
    proc = start_gan("train", *args, f"hydra.run.dir={run_dir}", cwd=workdir)
    wait_for(run_dir / "metrics.jsonl", proc)  # created at start-up; training has begun
    time.sleep(1.0)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 128 + sig
    line = proc.stderr.read().strip().splitlines()[-1]
    assert line.startswith(f"error: interrupted by {sig.name} at step ")
    step = int(line.split("at step ")[1].split(";")[0])
    assert f"gan train resume={run_dir}" in line
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == step

    out = run_gan("train", f"resume={run_dir}", f"steps={step + 3}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert f"at step {step}" in out.stdout
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == step + 3
    # resume= replayed the run's own overrides (the tiny widths), then applied the new steps
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["config"]["model"]["g_width"] == 8


class Payload:
    """Unpickling this creates a file: proof that code in a checkpoint ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_run_resumes_on_another_kind_of_device_with_its_noise_drawn_afresh(workdir):
    """A CUDA run resumed on the CPU (test_cuda runs the real one on a GPU): a CUDA generator's
    state (Philox, 16 bytes) cannot drive the CPU's, so the noise restarts from a seed of the
    step, said in the log; everything else is loaded as saved."""
    run = workdir / "run"
    args = tiny("steps=4", "ckpt_every=2", "eval.every=0")
    assert run_gan("train", *args, f"hydra.run.dir={run}", cwd=workdir).returncode == 0
    last = latest(run / "checkpoints")  # what a resume loads
    state = checkpoint.load(last)
    assert state["step"] == 4 and state["noise_rng_device"] == "cpu"
    state["noise_rng"] = torch.arange(16, dtype=torch.uint8)  # as torch.cuda saves it
    state["noise_rng_device"] = "cuda"
    checkpoint.save_as(state, last)
    out = run_gan("train", *args, "steps=6", f"resume={run}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "trained on cuda on cpu: the noise stream restarts" in (run / "train.log").read_text()
    resumed = checkpoint.load(latest(run / "checkpoints"))
    assert resumed["step"] == 6 and resumed["noise_rng_device"] == "cpu"


def test_a_checkpoint_carrying_a_pickle_payload_is_refused_and_nothing_runs(workdir):
    marker = workdir / "payload_ran"
    evil = workdir / "evil" / "checkpoints" / "last.pt"
    evil.parent.mkdir(parents=True)
    torch.save({"format": checkpoint.FORMAT, "step": 1, "G": Payload(marker)}, evil)
    line = error_line(run_gan("train", f"resume={evil}", cwd=workdir))
    assert "refused" in line and "it calls io.open" in line and str(evil) in line
    assert not marker.exists()
    with pytest.raises(Exception, match="refused"):
        checkpoint.load(evil)
    assert not marker.exists()


STORED = {"model": {"_target_": "gan_cli.models.dcgan.build", "g_width": 8, "d_norm": "batch"},
          "loss": {"_target_": "gan_cli.losses.hinge.Hinge"},
          "dataset": {"_target_": "gan_cli.data.digits.load", "resolution": 16, "channels": 1},
          "stabilizers": {"ema": {"_target_": "gan_cli.stabilizers.ema.EMA", "rampup": None}},
          "optim": {"lr": 2.0e-4, "betas": [0.5, 0.999]}, "steps": 7, "trust": ["os"],
          "device": {"type": "cuda"}, "eval": {"cache_dir": "/elsewhere", "every": 3}}  # fmt: skip


def test_resume_replays_the_stored_config_through_an_allow_list(workdir):
    """`gan train resume=` rebuilds the run's config from its checkpoint: the options it was
    trained with (recorded, or the conf/ option naming the stored `_target_`), then every
    replayed value explicitly, so no default of today changes it. Paths, the device's kind and
    trust are never replayed; the stored overrides are a record, never parsed."""
    evil = workdir / "evil.pt"
    record = ["hydra.run.dir=/elsewhere", "trust=[os]", "experiment=../../evil"]
    torch.save({"format": checkpoint.FORMAT, "step": 1, "config": STORED, "overrides": record},
               evil)  # fmt: skip
    argv = resume_argv([f"resume={evil}", "steps=9"])
    assert argv[:4] == ["model=dcgan", "dataset=digits", "loss=hinge", "stabilizers=[ema]"]
    replayed = argv[4 : argv.index("steps=9")]
    stored = ["model._target_=gan_cli.models.dcgan.build", "model.g_width=8", "model.d_norm=batch",
              "loss._target_=gan_cli.losses.hinge.Hinge", "dataset.resolution=16",
              "dataset.channels=1", "stabilizers.ema._target_=gan_cli.stabilizers.ema.EMA",
              "stabilizers.ema.rampup=null", "optim.lr=0.0002", "optim.betas=[0.5,0.999]",
              "eval.every=3"]  # fmt: skip
    assert replayed[-len(stored) :] == stored
    # keys the checkpoint's version did not have: their schema's default (the old behaviour),
    # never a value of today's tuned settings (conf/tuned/dcgan/digits.yaml sets 2 layers)
    assert "model.extra_layers=0" in replayed and "stabilizers.ema.half_life=10000" in replayed
    assert argv[-1] == f"hydra.run.dir={workdir}" and "trust" not in " ".join(argv)
    # a value or a name that is not plain (a path, an interpolation, a space) is refused
    bad_values = [("model", {**STORED["model"], "g_width": "/tmp/x"}),
                  ("model", {**STORED["model"], "d_norm": "a b"}),
                  ("stabilizers", {"../x": {}}), ("optim", {"lr": "${oc.env:HOME}"})]  # fmt: skip
    for key, bad in bad_values:
        crafted = {"format": checkpoint.FORMAT, "step": 1, "config": {**STORED, key: bad}}
        torch.save({**crafted, "overrides": []}, evil)
        with pytest.raises(GanError, match="refused"):
            resume_argv([f"resume={evil}"])


def test_a_downloaded_run_cannot_load_a_yaml_from_outside_the_configs(workdir):
    """A run dir whose checkpoint names `../../<path>/evil` as its model option, with evil.yaml
    (a `_global_` file setting a Hydra callback that copies a file) shipped inside it."""
    run_dir = workdir / "downloaded"
    (run_dir / "checkpoints").mkdir(parents=True)
    target = workdir / "victim.txt"
    (run_dir / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  callbacks:\n    x:\n      _target_: shutil.copyfile\n"
        f"      src: {run_dir / 'evil.yaml'}\n      dst: {target}\n"
    )
    climb = "../" * 12 + str(run_dir / "evil").lstrip("/")
    for choice in (climb, str(run_dir / "evil")):
        crafted = {"format": checkpoint.FORMAT, "step": 1, "config": STORED, "overrides": []}
        torch.save({**crafted, "choices": {"model": choice}},
                   run_dir / "checkpoints" / "step_0000001.pt")  # fmt: skip
        line = error_line(run_gan("train", f"resume={run_dir}", cwd=workdir))
        assert "field 'choices.model' is not an option's name" in line
        assert not target.exists()
    # the user's own command line may not name a path as a group choice either
    line = error_line(run_gan("train", f"experiment={climb}", "steps=1", cwd=workdir))
    assert "a config-group choice names an option, not a path" in line
    assert not target.exists()


def test_a_stored_config_can_only_name_builders_of_its_group(workdir, finished_run):
    """A crafted checkpoint naming any other callable of gan_cli (here one that writes files
    where its arguments say) is refused by `gan sample`, `gan eval` and `gan train resume=`.
    (A stored `dataset._target_` override is not even replayed, stored.py: the resume is
    refused by the comparison with the stored config, before any data is loaded.)"""
    run_dir, _ = finished_run
    pwned, writer = workdir / "pwned", "gan_cli.run_writer.RunWriter"
    crafted = {}
    for group in ("model", "dataset"):
        state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
        state["config"][group] = {"_target_": writer, "run_dir": str(pwned), "metrics": "digits"}
        state["overrides"] = [*state["overrides"], f"{group}._target_={writer}"]
        crafted[group] = workdir / group / "checkpoints" / "step_0000002.pt"
        crafted[group].parent.mkdir(parents=True)
        torch.save(state, crafted[group])
    for verb, group in (("sample", "model"), ("eval", "model"), ("eval", "dataset"),
                        ("train", "model"), ("train", "dataset")):  # fmt: skip
        key = "resume" if verb == "train" else "ckpt"
        line = error_line(run_gan(verb, f"{key}={crafted[group]}", cwd=workdir))
        if (verb, group) == ("train", "dataset"):
            assert "comes from a different model or config (dataset._target_:" in line
            continue
        if verb == "train":  # its settings are replayed explicitly: a path is not plain
            assert "field 'config.model.run_dir'" in line and "refused" in line
            continue
        assert f"{group}._target_='{writer}': not a registered {group} builder" in line
    assert not pwned.exists()


def test_a_refused_target_imports_nothing_outside_its_groups_package():
    """Checked in a fresh interpreter, by what `sys.modules` gained: a target outside the
    group's package is refused before any import; one inside imports only gan-cli's module it
    names; a module of ours that cannot be imported is one line, not a traceback."""
    import json
    import subprocess
    import sys

    code = "\n".join([
        "import json, sys",
        "from gan_cli import registry",
        "from gan_cli.errors import ConfigError",
        "out = {}",
        "for group, target in json.loads(sys.argv[1]):",
        "    before = set(sys.modules)",
        "    try:",
        "        registry.resolve(group, target, group)",
        "    except ConfigError as exc:",
        "        out[target] = [str(exc), sorted(set(sys.modules) - before)]",
        "print(json.dumps(out))",
    ])  # fmt: skip
    targets = [
        ("model", "json.tool.main"),
        ("model", "gan_cli.run_writer.RunWriter"),
        ("model", "gan_cli.models.mlp.torch.save"),
        ("loss", "gan_cli.losses.hinge.x"),
    ]
    blocked = "import sys; sys.modules['torch'] = None\n"  # as if torch could not be imported
    out = subprocess.run([sys.executable, "-c", blocked + code, json.dumps(targets)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    for target in ("json.tool.main", "gan_cli.run_writer.RunWriter"):
        assert seen[target][1] == [] and "refused, nothing was imported" in seen[target][0]
    for target in ("gan_cli.models.mlp.torch.save", "gan_cli.losses.hinge.x"):
        message, added = seen[target]
        assert "cannot import it (ModuleNotFoundError: " in message and "torch" in message
        assert all(m.startswith(("gan_cli.models", "gan_cli.losses")) for m in added), added


def test_only_builders_registered_for_the_group_are_built(workdir):
    marker = workdir / "ran"
    for target in ("os.system", "gan_cli.cli.os.system", "builtins.open",
                   "gan_cli.run_writer.RunWriter", "gan_cli.losses.hinge.Hinge",
                   # inside the model package, but nothing that registered itself there
                   "gan_cli.models.dcgan.register", "gan_cli.models.dcgan.torch.save",
                   "gan_cli.models.common.os.system", "gan_cli.models..dcgan.build",
                   "gan_cli.models.nope.build", "gan_cli.models.\x00.build"):  # fmt: skip
        with pytest.raises(ConfigError, match="not a registered model builder"):
            build({"_target_": target, "command": f"touch {marker}"}, "model")
    with pytest.raises(ConfigError, match="not a registered loss builder"):
        build({"_target_": "gan_cli.models.dcgan.build"}, "loss")
    assert type(build({"_target_": "gan_cli.losses.hinge.Hinge"}, "loss")).__name__ == "Hinge"
    # refused by name before the data loads: the missing folder is never reached
    line = error_line(run_gan("train", "model._target_=os.system", "dataset=folder",
                              f"dataset.path={workdir / 'absent'}", cwd=workdir))  # fmt: skip
    assert "model._target_='os.system'" in line
    assert not marker.exists()


def test_checkpoints_are_ordered_by_step_number_past_ten_million(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (9_999_998, 9_999_999, 10_000_000, 10_000_001):
        checkpoint.save({"step": step}, folder, step, keep=3)
    assert sorted(p.name for p in folder.glob("step_*.pt")) == [
        "step_10000000.pt", "step_10000001.pt", "step_9999999.pt"]  # fmt: skip
    assert latest(folder).name == "step_10000001.pt"
    assert checkpoint.load(folder / "last.pt")["step"] == 10_000_001
    checkpoint.prepare_resume(folder, 10_000_000)  # the later one is set aside, not the earlier
    assert sorted(p.name for p in folder.glob("step_*.pt")) == [
        "step_10000000.pt", "step_9999999.pt"]  # fmt: skip


def test_runs_started_at_once_in_one_folder_get_a_folder_each(workdir):
    args = tiny("model=mlp", "dataset=ring8", "steps=4", "log_every=2")
    procs = [start_gan("train", *args, cwd=workdir) for _ in range(2)]
    # the same base name for two more: the collision is certain, not left to the clock
    fixed = "hydra.run.dir=${unique_dir:runs/same}"
    procs += [start_gan("train", *args, fixed, cwd=workdir) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0], [p.stderr.read() for p in procs]
    dated = [d for d in (workdir / "outputs").glob("*/*") if d.is_dir()]
    fixed_dirs = sorted((workdir / "runs").iterdir())
    assert len(dated) == 2 and [d.name for d in fixed_dirs] == ["same", "same_2"]
    for run in [*dated, *fixed_dirs]:
        assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == 4
        assert [json.loads(r)["step"] for r in (run / "metrics.jsonl").read_text().splitlines()
                if "Loss/D" in r] == [2, 4]  # fmt: skip
        assert (run / ".hydra" / "config.yaml").is_file() and (run / "provenance.jsonl").is_file()


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(workdir):
    run_dir = workdir / "run"
    base = tiny("model=mlp", "dataset=grid25", "log_every=5", f"hydra.run.dir={run_dir}")
    assert run_gan("train", *base, "steps=10", "ckpt_every=5", cwd=workdir).returncode == 0
    good = run_dir / "checkpoints" / "last.pt"
    before = digest(good)
    # continue the same run with a learning rate that blows the weights up
    line = error_line(
        run_gan("train", *base, "steps=40", "ckpt_every=2", "optim.lr=1e30", cwd=workdir)
    )
    assert line.startswith("error: training diverged by step 12")
    assert line.endswith(f"last good checkpoint: {good.parent / 'step_0000010.pt'}")
    assert digest(good) == before
    state = checkpoint.load(good)
    assert all(torch.isfinite(t).all() for t in state["G"].values())


def test_forced_nan_in_a_fresh_run_names_the_step(workdir):
    line = error_line(
        run_gan(
            "train",
            *tiny(
                "model=mlp",
                "dataset=grid25",
                "optim.lr=1e30",
                "log_every=3",
                "ckpt_every=100",
                "steps=50",
            ),
            cwd=workdir,
        )  # fmt: skip
    )
    assert line == (
        "error: training diverged at step 3 (Loss/D, D/real, D/fake, Loss/G not finite); "
        "no checkpoint was written"
    )


@pytest.fixture
def finished_run(workdir):
    """A short finished run on 16x16 RGB images; returns (run dir, digest of last.pt)."""
    run_dir = workdir / "done"
    args = tiny("dataset=fake", "dataset.resolution=16", "dataset.size=64", "steps=2")
    out = run_gan("train", *args, f"hydra.run.dir={run_dir}", cwd=workdir)
    assert out.returncode == 0, out.stderr
    return run_dir, digest(run_dir / "checkpoints" / "last.pt")


def test_checkpoint_problems_are_one_line_and_lose_nothing(workdir, finished_run):
    run_dir, before = finished_run
    last = run_dir / "checkpoints" / "last.pt"
    records = {p: digest(p) for p in (run_dir / ".hydra").iterdir()}

    # grayscale data against an RGB model: refused from the stored config, before data loads
    line = error_line(run_gan("train", f"resume={run_dir}", "dataset.channels=1", "steps=4",
                              cwd=workdir))  # fmt: skip
    assert "different model or config (dataset.channels: 3 there, 1 here)" in line
    # another model config
    line = error_line(run_gan("train", f"resume={run_dir}", "model.g_width=16", "steps=4",
                              cwd=workdir))  # fmt: skip
    assert "different model or config (model.g_width: 8 there, 16 here)" in line
    assert digest(last) == before
    # the refused attempts were recorded beside, not over, the run's own .hydra/ files
    assert {p: digest(p) for p in records} == records
    assert len(list((run_dir / ".hydra").glob("resumed_*"))) >= 1

    # truncated and garbage checkpoints
    broken = workdir / "broken.pt"
    broken.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert "truncated or corrupt" in error_line(run_gan("train", f"resume={broken}", cwd=workdir))
    broken.write_bytes(b"\x00not a checkpoint" * 100)
    assert "truncated or corrupt" in error_line(run_gan("train", f"resume={broken}", cwd=workdir))
    missing = workdir / "nothing_here"
    assert "no such file or folder" in error_line(
        run_gan("train", f"resume={missing}", cwd=workdir)
    )
    assert digest(last) == before


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["model=foo"],
            f"error: model=foo: no such choice; choose from {', '.join(choices('model'))}",
        ),
        (["loss=hing"], f"choose from {', '.join(choices('loss'))}"),
        (["optim.lr=abc"], "error: optim.lr=abc: Value 'abc' of type 'str' could not be"),
        (["batch_size=0"], "error: batch_size=0: must be >= 1"),
        (["optim.lr=-1"], "error: optim.lr=-1.0: must be > 0 and finite"),
        (["dataset.resolution=48"], "error: dataset.resolution=48: model=dcgan builds 8, 16, 32"),
    ],
)
def test_bad_config_is_one_line(workdir, overrides, expected):
    line = error_line(run_gan("train", *overrides, cwd=workdir))
    assert line.startswith(expected) or expected in line, line
    assert not (workdir / "outputs").exists() or not list((workdir / "outputs").rglob("*.pt"))


def test_bad_data_folders_are_one_line(workdir):
    missing = workdir / "missing"
    line = error_line(run_gan("train", "dataset=folder", f"dataset.path={missing}", cwd=workdir))
    assert line == f"error: dataset.path={missing}: no such folder"

    empty = workdir / "empty"
    empty.mkdir()
    line = error_line(run_gan("train", "dataset=folder", f"dataset.path={empty}", cwd=workdir))
    assert line.startswith(f"error: dataset.path={empty}: no images")

    images = workdir / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 80, 0, 0)).save(images / f"{i}.png")
    (images / "3.jpg").write_bytes(b"this is no jpeg")
    line = error_line(run_gan("train", "dataset=folder", f"dataset.path={images}",
                              "dataset.resolution=16", "dataset.workers=1", "batch_size=4",
                              "steps=3", cwd=workdir))  # fmt: skip
    assert line == f"error: cannot read image {images / '3.jpg'}: UnidentifiedImageError"


def test_an_output_dir_that_cannot_be_written_is_one_line(workdir):
    blocker = workdir / "a_file"
    blocker.write_text("not a folder")
    line = error_line(run_gan("train", f"hydra.run.dir={blocker}/run", cwd=workdir))
    assert str(blocker / "run") in line and "Not a directory" in line


def test_full_traceback_with_hydra_full_error(workdir):
    out = run_gan("train", "batch_size=0", cwd=workdir, env={"HYDRA_FULL_ERROR": "1"})
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "ConfigError: batch_size=0" in out.stderr


def test_a_sweep_with_a_failing_job_finishes_the_others_and_prints_a_summary(workdir):
    sweep = workdir / "sweep"
    out = run_gan(
        "train", "--multirun", "optim.lr=1e-4,2e-4,1e30,3e-4",
        *tiny("model=mlp", "dataset=grid25", "steps=6", "log_every=3"),
        f"hydra.sweep.dir={sweep}", cwd=workdir,
    )  # fmt: skip
    assert out.returncode == 1
    assert "sweep: 4 jobs, 3 ok, 1 failed" in out.stdout
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 4
    for i, job in enumerate(jobs):
        status = "failed" if i == 2 else "ok"
        assert f"#{i:<3} {status:<6}" in out.stdout and str(job) in out.stdout
        assert (job / "checkpoints" / "last.pt").exists() == (i != 2)
    assert "reason: training diverged at step 3" in out.stdout
