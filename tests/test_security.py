"""A downloaded run is data (docs/security.md): each way a hostile run folder or checkpoint
could reach outside it, prepared by hand as an attacker would, against `gan train resume=`,
`gan sample`, `gan eval` and `gan report`. Every command here runs with a secret planted in
its environment; none may print it, store it, or touch a file of the `outside` folder."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import error_line, run_gan, tiny

from gan_cli import checkpoint

pytestmark = pytest.mark.e2e

SECRET = "sentinel-5ec2e7-do-not-leak"
ENV = {"GAN_SENTINEL": SECRET}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """A finished run of a small DCGAN on the digits at 16 px, evaluated at its last step."""
    work = tmp_path_factory.mktemp("good")
    run = work / "run"
    args = tiny(
        "dataset.resolution=16", "steps=2", "eval.every=2", "eval.samples=200", "sample_every=2"
    )
    out = run_gan("train", *args, f"hydra.run.dir={run}", cwd=work)
    assert out.returncode == 0, out.stderr
    return run


class Scene:
    """A hostile copy of the good run (`run`) beside a folder of files it must never reach
    (`outside`); `check()` after each command."""

    def __init__(self, workdir: Path, good: Path):
        self.workdir, self.run, self.outside = workdir, workdir / "run", workdir / "outside"
        shutil.copytree(good, self.run)
        self.outside.mkdir()
        (self.outside / "victim.txt").write_text("precious\n")
        self.ckpt = self.run / "checkpoints" / "last.pt"
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(self.outside.rglob("*")) if p.is_file()}

    def state(self) -> dict:
        return checkpoint.load(self.ckpt)

    def save(self, state: dict) -> None:
        """Replace the run's checkpoint (every step file too: the newest one is read)."""
        for old in self.ckpt.parent.glob("*.pt"):
            old.unlink()
        torch.save(state, self.ckpt)

    def gan(self, *args: str):
        return run_gan(*args, cwd=self.workdir, env=ENV)

    def check(self, result) -> None:
        """No traceback, no secret in any output or file, nothing outside changed."""
        assert "Traceback" not in result.stderr, result.stderr
        assert SECRET not in result.stdout + result.stderr
        for path in self.workdir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert SECRET.encode() not in path.read_bytes(), path
        assert self.snapshot() == self.before, "a file outside the run folder changed"


@pytest.fixture
def scene(workdir, good_run) -> Scene:
    return Scene(workdir, good_run)


def refused(scene: Scene, *args: str) -> str:
    result = scene.gan(*args)
    scene.check(result)
    return error_line(result)


# ---- 1. interpolations are never resolved
@pytest.mark.parametrize(
    "override",
    [
        "optim.lr=${oc.env:GAN_SENTINEL}",
        "steps=${unique_dir:OUTSIDE/made}",
        "model.g_width=${oc.decode:'8'}",
        "seed=${oc.env:GAN_SENTINEL,0}",
    ],
)
def test_a_stored_override_with_an_interpolation_is_refused(scene, override):
    """The stored overrides are a record, never replayed; one with an interpolation is still
    refused (only a crafted file has one)."""
    state = scene.state()
    state["overrides"] = [*state["overrides"], override.replace("OUTSIDE", str(scene.outside))]
    scene.save(state)
    line = refused(scene, "train", f"resume={scene.run}", "steps=3")
    assert "field 'overrides'" in line and "holds an interpolation" in line
    assert not (scene.outside / "made").exists()


@pytest.mark.parametrize("verb", ["sample", "eval", "train"])
def test_a_stored_config_value_with_an_interpolation_is_refused_not_resolved(scene, verb):
    state = scene.state()
    state["config"]["model"]["g_width"] = "${oc.env:GAN_SENTINEL}"
    state["config"]["dataset"]["resolution"] = "${unique_dir:" + str(scene.outside / "x") + "}"
    scene.save(state)
    key = "resume" if verb == "train" else "ckpt"
    extra = {"train": "steps=3", "sample": "n=4", "eval": "samples=200"}[verb]
    line = refused(scene, verb, f"{key}={scene.run}", extra)
    assert "holds an interpolation" in line and "never resolved" in line
    assert not (scene.outside / "x").exists()


# ---- 2. replayed settings never name a path
def test_stored_paths_and_caches_are_not_replayed(scene):
    """A run that stored `eval.cache_dir=<outside>` (and an Inception weights path, a
    device): resumed, it trains and evaluates with the user's own settings only."""
    state = scene.state()
    state["overrides"] = [
        *state["overrides"],
        f"eval.cache_dir={scene.outside}/cache",
        f"eval.inception_weights={scene.outside}/victim.txt",
        f"dataset.root={scene.outside}",
        "device=cuda",
    ]
    scene.save(state)
    result = scene.gan("train", f"resume={scene.run}", "steps=3")
    scene.check(result)
    assert result.returncode == 0, result.stderr
    assert not (scene.outside / "cache").exists()


def test_resuming_a_folder_run_needs_its_path_on_the_command_line(scene):
    state = scene.state()
    state["choices"]["dataset"] = "folder"
    state["config"]["dataset"] = {
        "_target_": "gan_cli.data.folder.load",
        "resolution": 16,
        "channels": 1,
        "path": str(scene.outside),
        "workers": 0,
        "cache": True,
        "cache_dir": str(scene.outside / "c"),
    }
    scene.save(state)
    line = refused(scene, "train", f"resume={scene.run}", "steps=3")
    assert "dataset=folder" in line and "dataset.path=PATH" in line
    # with a folder of the user's, that folder is read (here: empty), never the stored cache
    images = scene.workdir / "mine"
    images.mkdir()
    line = refused(scene, "train", f"resume={scene.run}", "steps=3", f"dataset.path={images}")
    assert f"dataset.path={images}: no images" in line
    assert not (scene.outside / "c").exists()


def test_eval_never_reads_a_data_path_or_cache_from_the_checkpoint(scene):
    state = scene.state()
    state["config"]["dataset"] = {
        "_target_": "gan_cli.data.folder.load",
        "resolution": 16,
        "channels": 1,
        "path": str(scene.outside),
        "cache_dir": str(scene.outside / "c"),
    }
    scene.save(state)
    line = refused(scene, "eval", f"ckpt={scene.run}", f"out={scene.workdir / 'e.json'}")
    assert "dataset.path=PATH" in line and "never read from a checkpoint" in line
    assert not (scene.outside / "c").exists()


# ---- 3. no links followed, no shared file written through
LINKED = ["train.log", "metrics.jsonl", "provenance.jsonl", "samples", ".hydra", "checkpoints"]


@pytest.mark.parametrize("name", LINKED)
def test_a_symlink_in_the_run_folder_refuses_the_resume(scene, name):
    target = scene.outside / name
    original = scene.run / name
    if original.is_dir():
        shutil.copytree(original, target)
        shutil.rmtree(original)
    else:
        shutil.copy(original, target)
        original.unlink()
    original.symlink_to(target)
    scene.before = scene.snapshot()
    line = refused(scene, "train", f"resume={scene.run}", "steps=3")
    assert "symbolic link" in line and name in line


@pytest.mark.parametrize(
    "name", ["train.log", "metrics.jsonl", "provenance.jsonl", "checkpoints/last.pt"]
)
def test_a_hard_linked_file_is_never_written_through(scene, name):
    victim = scene.outside / "shared"
    shutil.copy(scene.run / name, victim)
    (scene.run / name).unlink()
    os.link(victim, scene.run / name)
    scene.before = scene.snapshot()
    result = scene.gan("train", f"resume={scene.run}", "steps=3")
    scene.check(result)
    assert result.returncode == 0, result.stderr
    assert (scene.run / name).stat().st_nlink == 1 or name.endswith("last.pt")
    assert checkpoint.load(scene.ckpt)["step"] == 3


def test_report_writes_no_file_through_a_link_or_outside_the_folder(scene):
    # a plot name climbing out of the folder through a directory the attacker made
    (scene.run / "report_x").mkdir()
    rows = (scene.run / "metrics.jsonl").read_text().splitlines()
    row = json.loads(rows[-1])
    row["Metrics/x/../../pwn"] = 1.0
    (scene.run / "metrics.jsonl").write_text("\n".join([*rows[:-1], json.dumps(row)]) + "\n")
    # report.md hard-linked to a file outside
    os.link(scene.outside / "victim.txt", scene.run / "report.md")
    scene.before = scene.snapshot()
    result = scene.gan("report", str(scene.run))
    scene.check(result)
    assert result.returncode == 0, result.stderr
    assert not (scene.workdir / "pwn.png").exists()
    assert [p.name for p in scene.run.glob("report_x*.png")] == ["report_x_.._.._pwn.png"]
    # a link anywhere in the folder: refused
    (scene.run / "report.md").unlink()
    (scene.run / "report.md").symlink_to(scene.outside / "victim.txt")
    assert "symbolic link" in refused(scene, "report", str(scene.run))


# ---- 4. report injection
def test_report_escapes_markdown_html_and_control_characters(scene):
    overrides = ["model.g_width=8", "note=<img src=x onerror=alert(1)>|x|", "tag=\x1b[31mred"]
    (scene.run / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides))
    rows = (scene.run / "metrics.jsonl").read_text().splitlines()
    row = json.loads(rows[-1])
    row["Metrics/fid<b>|\x1b[2J$x^$"] = 3.0  # in both runs: a column and a plot
    (scene.run / "metrics.jsonl").write_text("\n".join([*rows[:-1], json.dumps(row)]) + "\n")
    other = scene.workdir / "run2"
    shutil.copytree(scene.run, other)
    (other / ".hydra" / "overrides.yaml").write_text(json.dumps(["note=plain", "tag=plain"]))
    result = scene.gan("report", str(scene.run), str(other), f"out={scene.workdir / 'rep'}")
    scene.check(result)
    assert result.returncode == 0, result.stderr
    text = (scene.workdir / "rep" / "report.md").read_text()
    assert "\x1b" not in text and "\x1b" not in result.stdout
    assert "<img" not in text and "&lt;img" in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    widths = {line.replace("\\|", "").count("|") for line in table}
    assert len(widths) == 1, table  # no cell broke the table


# ---- 5. malformed fields: one line naming the file and the field
@pytest.mark.parametrize(
    ("verb", "field", "value", "says"),
    [
        ("eval", "metrics_kind", "bogus", "field 'metrics_kind'"),
        ("sample", "config.model.bogus", 1, "cannot be built from its settings"),
        ("train", "fixed_z", None, "field 'fixed_z' is missing"),
        ("train", "overrides", "loss=hinge", "field 'overrides'"),
        ("sample", "data_shape", [1, "16", 16], "field 'data_shape'"),
        ("eval", "num_classes", -3, "field 'num_classes'"),
        ("train", "rng", {"python": 1}, "field 'rng'"),
        ("train", "step", "2", "field 'step'"),
    ],
)
def test_a_malformed_checkpoint_field_is_one_line(scene, verb, field, value, says):
    state = scene.state()
    *parents, last = field.split(".")
    node = state
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    scene.save(state)
    key = "resume" if verb == "train" else "ckpt"
    extra = "steps=3" if verb == "train" else f"out={scene.workdir / 'o.json'}"
    line = refused(scene, verb, f"{key}={scene.run}", extra)
    assert says in line and str(scene.run) in line


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("metrics.jsonl", b"\xff\xfe{}\n", "not UTF-8"),
        ("metrics.jsonl", b'[1, 2]\n{"step": 1}\n', "not an object"),
        ("metrics.jsonl", b'{"step": 1, "Metrics/fid": "x"}\n{"step": 2}\n', "is not a number"),
        ("metrics.jsonl", b'{"Metrics/fid": 1}\n{"step": 2}\n', "without a whole-number step"),
        (".hydra/overrides.yaml", b"\xff\xfe- a=1\n", "not UTF-8"),
        (".hydra/overrides.yaml", b"- a=1\n  - : [\n", "not valid YAML"),
        (".hydra/overrides.yaml", b"{a: 1}\n", "not a list"),
    ],
)
def test_report_on_malformed_files_is_one_line(scene, name, content, says):
    (scene.run / name).write_bytes(content)
    line = refused(scene, "report", str(scene.run))
    assert says in line and name.split("/")[-1] in line


# ---- 6. bounds before allocation
def test_sizes_from_a_stored_config_are_bounded_before_allocation(scene):
    state = scene.state()
    state["config"]["dataset"] = {
        "_target_": "gan_cli.data.fake.load",
        "resolution": 16,
        "channels": 1,
        "size": 10**11,
    }
    scene.save(state)
    line = refused(scene, "eval", f"ckpt={scene.run}", f"out={scene.workdir / 'e.json'}")
    assert "limits.data_gb" in line
    state["choices"] = {**state.get("choices", {}), "dataset": "fake"}  # what resume replays
    scene.save(state)
    assert "limits.data_gb" in refused(scene, "train", f"resume={scene.run}", "steps=3")
    state["config"]["model"] = {
        "_target_": "gan_cli.models.mlp.build",
        "hidden": 60000,
        "depth": 3,
        "latent_dim": 16,
    }
    scene.save(state)
    line = refused(scene, "sample", f"ckpt={scene.run}", f"out={scene.workdir / 's.png'}")
    assert "limits.params_m" in line


def test_a_compressed_checkpoint_is_refused_before_it_expands(scene):
    state = scene.state()
    state["G"]["padding"] = torch.zeros(10_000_000)  # 40 MB of zeros: ~40 KB compressed
    plain = scene.workdir / "plain.pt"
    torch.save(state, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(scene.ckpt, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    plain.unlink()
    for old in scene.ckpt.parent.glob("step_*.pt"):
        old.unlink()
    assert scene.ckpt.stat().st_size < 5_000_000
    line = refused(scene, "sample", f"ckpt={scene.run}", f"out={scene.workdir / 's.png'}")
    assert "declares more data than it holds" in line


def test_a_huge_overrides_file_is_refused_without_parsing_it(scene):
    (scene.run / ".hydra" / "overrides.yaml").write_text("- a=1\n" * 400_000)  # 2.4 MB
    assert "more than" in refused(scene, "report", str(scene.run))
