"""Your own models, losses and data sets: trusted by the user (an installed plugin, or
`trust=[module]`), never by a checkpoint or a run folder. Real pip installs, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import error_line, run_gan, straight_and_killed

from gan_cli import checkpoint

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
POINTS = ["dataset=grid25", "batch_size=64", "log_every=10", "eval.every=20"]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """examples/my_gan_plugin installed with its metadata into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--target", str(site), str(EXAMPLES / "my_gan_plugin")]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert (site / "my_gan_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


def test_an_installed_plugin_trains_samples_evaluates_and_resumes_bit_exact(workdir, plugin_site):
    env = {"PYTHONPATH": str(plugin_site)}
    args = ["model=resmlp", "loss=smoothed", "stabilizers.ema.half_life=500", *POINTS,
            "stabilizers=[ema]", "steps=40", "ckpt_every=20"]  # fmt: skip
    a, b = straight_and_killed(workdir, args, 20, env=env)
    sa, sb = (checkpoint.load(r / "checkpoints" / "last.pt") for r in (a, b))
    assert sa["config"]["model"]["_target_"] == "my_gan_plugin.models.build"
    assert sa["config"]["loss"] == {"_target_": "my_gan_plugin.losses.OneSidedSmoothing",
                                    "smoothing": 0.1}  # fmt: skip
    for net in ("G", "D", "G_ema"):
        assert all(torch.equal(sa[net][k], sb[net][k]) for k in sa[net]), net

    out = run_gan("sample", f"ckpt={b}", "n=16", "out=grid.png", cwd=workdir, env=env)
    assert out.returncode == 0 and (workdir / "grid.png").is_file(), out.stderr
    out = run_gan("eval", f"ckpt={b}", cwd=workdir, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads((workdir / "eval.json").read_text())
    rows = [json.loads(r) for r in (b / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "Metrics/modes" in r][-1]
    assert result["runs"][0]["metrics"]["modes"] == logged["Metrics/modes"]
    # the plugin's schema checks its keys like gan-cli's own
    line = error_line(run_gan("train", "model=resmlp", "model.width=0", *POINTS, cwd=workdir,
                              env=env))  # fmt: skip
    assert line == "error: model.width=0: must be > 0 and finite"
    line = error_line(run_gan("train", "loss=smoothed", "loss.smoothing=1.5", cwd=workdir,
                              env=env))  # fmt: skip
    assert line == "error: loss.smoothing=1.5: must be in [0, 1)"
    # without the plugin installed, its checkpoint is refused, naming how to trust the code
    line = error_line(run_gan("sample", f"ckpt={b}", cwd=workdir))
    assert "model._target_='my_gan_plugin.models.build': not a registered model builder" in line


def test_a_local_module_is_used_when_trusted_and_refused_otherwise(workdir):
    env = {"PYTHONPATH": str(EXAMPLES / "local")}
    conf = f"hydra.searchpath=[file://{EXAMPLES / 'local' / 'myconf'}]"
    run_dir = workdir / "mine"
    args = [conf, "model=mine", "loss=mine", *POINTS, "steps=20"]
    line = error_line(run_gan("train", *args, cwd=workdir, env=env))
    assert line == ("error: model._target_='mymodels.build': not a registered model builder; "
                    "refused, nothing was imported; to use your own code, trust its module: "
                    "trust=[mymodels] (or GAN_CLI_TRUST=mymodels)")  # fmt: skip
    out = run_gan("train", *args, "trust=[mymodels]", f"hydra.run.dir={run_dir}", cwd=workdir,
                  env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert state["config"]["loss"]["_target_"] == "mymodels.SquaredHinge"
    assert "trust" not in state["config"] and not any("trust" in o for o in state["overrides"])
    # sampling and evaluating it need the same trust: from the environment this time
    out = run_gan("sample", f"ckpt={run_dir}", "out=pts", cwd=workdir,
                  env={**env, "GAN_CLI_TRUST": "mymodels"})  # fmt: skip
    assert out.returncode == 0 and (workdir / "pts" / "points.npy").is_file(), out.stderr
    line = error_line(run_gan("eval", f"ckpt={run_dir}", cwd=workdir, env=env))
    assert "trust=[mymodels]" in line
    # the model._target_ form, on another model's config
    out = run_gan("train", "model=mlp", "model._target_=mymodels.build", "trust=[mymodels]",
                  *POINTS, "steps=5", f"hydra.run.dir={workdir / 'target'}", cwd=workdir,
                  env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    line = error_line(run_gan("train", "model=mlp", "model._target_=mymodels.build", *POINTS,
                              cwd=workdir, env=env))  # fmt: skip
    assert "trust=[mymodels]" in line


def test_a_checkpoint_never_grants_trust(workdir):
    """A module that writes a marker when imported, importable from PYTHONPATH and also lying
    in the run folder; the checkpoint names it, and its stored overrides say trust=[it]."""
    lib = workdir / "lib"
    lib.mkdir()
    marker = workdir / "IMPORTED"
    code = f"open({str(marker)!r}, 'w').close()\ndef build(*a, **k):\n    raise SystemExit(9)\n"
    run_dir = workdir / "downloaded"
    (run_dir / "checkpoints").mkdir(parents=True)
    for folder in (lib, run_dir):
        (folder / "evilmod.py").write_text(code)
    out = run_gan("train", "model=mlp", *POINTS, "steps=2", f"hydra.run.dir={workdir / 'real'}",
                  cwd=workdir)  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = checkpoint.load(workdir / "real" / "checkpoints" / "last.pt")
    for group in ("model", "dataset"):
        state["config"][group]["_target_"] = "evilmod.build"
    state["config"]["trust"] = ["evilmod"]
    state["overrides"] = [*state["overrides"], "trust=[evilmod]", "model._target_=evilmod.build"]
    torch.save(state, run_dir / "checkpoints" / "step_0000002.pt")

    env = {"PYTHONPATH": str(lib)}
    for args in (["sample", "ckpt=."], ["eval", "ckpt=."], ["train", "resume=."]):
        line = error_line(run_gan(*args, cwd=run_dir, env=env))
        assert "evilmod" in line and ("refused" in line), line
        out = subprocess.run([sys.executable, "-m", "gan_cli", *args], cwd=run_dir,
                             env={**env, "PATH": str(Path(sys.executable).parent)},
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode != 0 and "evilmod" in out.stderr
    assert not marker.exists()
