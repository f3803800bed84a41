"""Fuzzing hostile run folders (docs/security.md): hypothesis mutates a finished run's checkpoint
(fields replaced by values of the wrong type, huge numbers, strings with `${`, `../` or control
characters, tensors of other shapes; fields dropped; overrides added) and its files (bytes
written over metrics.jsonl or overrides.yaml, symbolic and hard links to files outside), then
runs `gan sample`, `gan eval`, `gan train resume=` or `gan report` on it. Whatever happens: exit
status 0 or 1, at most one line on stderr and never a traceback, nothing outside the run folder
created or changed, and the secret planted in the environment in no output, file or event.

The examples are derandomised (the same ones on every machine and run) and few enough for
under two minutes on one core."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_security import SECRET, Scene, good_run  # noqa: F401 - the module fixture

pytestmark = pytest.mark.e2e

NASTY_STRINGS = [
    "${oc.env:GAN_SENTINEL}",
    "${unique_dir:OUTSIDE/made}",
    "../../../OUTSIDE",
    "OUTSIDE/victim.txt",
    "\x1b[2J\x1b[31m",
    "<script>x</script>|",
    "",
    "a" * 5000,
    "dcgan",
    "gan_cli.models.mlp.build",
    "os.system",
    "\x00",
    "a\ud800b",  # a lone surrogate: JSON and YAML escape one, no UTF-8 file holds it
]
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 10**11, 60_000, 2**2000, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_STRINGS),
    st.none(),
    st.booleans(),
    st.lists(st.integers(-3, 100_000), max_size=4),
    st.dictionaries(
        st.sampled_from(["_target_", "x", "python", "step"]),
        st.sampled_from([1, "x", None, "${oc.env:GAN_SENTINEL}"]),
        max_size=3,
    ),
    st.builds(lambda n, d: torch.zeros([n] * d), st.integers(0, 3), st.integers(0, 3)),
)
FIELDS = [
    "step",
    "G",
    "D",
    "G_ema",
    "opt_g",
    "opt_d",
    "stabilizers",
    "noise_rng",
    "fixed_z",
    "data",
    "data_shape",
    "rng",
    "config",
    "overrides",
    "best",
    "metrics_kind",
    "num_classes",
    "wall_s",
    "cpu_s",
    "channels_last",
    "format",
]
CONFIG_KEYS = [
    "model._target_",
    "model.g_width",
    "model.latent_dim",
    "dataset._target_",
    "dataset.resolution",
    "dataset.size",
    "dataset.path",
    "stabilizers",
    "batch_size",
    "loss._target_",
]
NESTED = [  # inside a field: counts and scores read back into the running state
    "stabilizers.ema.updates",
    "best.value",
    "best.step",
    "opt_g.state.0.step",
    "opt_d.state.1.exp_avg",
    "data.epoch",
    "rng.python",
]
OVERRIDES = st.one_of(
    st.sampled_from(
        [
            "dataset=folder",
            "dataset.path=OUTSIDE",
            "eval.cache_dir=OUTSIDE/c",
            "steps=${oc.env:GAN_SENTINEL}",
            "model=../../x",
            "~model",
            "stabilizers=[ema,OUTSIDE]",
            "dataset.size=100000000000",
            "model.g_width=100000",
            "hydra.run.dir=OUTSIDE",
            "trust=[os]",
            "loss=hinge",
            "+x=1",
        ]
    ),
    st.text(max_size=30),
)
FILES = ["metrics.jsonl", ".hydra/overrides.yaml", "provenance.jsonl", "train.log"]
CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b'{"step": 1, "Metrics/fid": "x"}\n',
            b"[]\n",
            b"- ${oc.env:GAN_SENTINEL}\n",
            b'{"step": -1}\n{"step": 2, "Metrics/a/../../b": 1}\n',
            b"\xff\xfe",
            b"- a=<b>|\x1b[31m\n",
            b"[" * 100_000 + b"]" * 100_000 + b"\n",
            b'{"step": 2, ' + b", ".join(b'"Metrics/m%d": 1' % i for i in range(3000)) + b"}\n",
        ]
    ),
)
MUTATION = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(FIELDS), VALUES),
    st.tuples(st.just("drop"), st.sampled_from(FIELDS)),
    st.tuples(st.just("config"), st.sampled_from(CONFIG_KEYS), VALUES),
    st.tuples(st.just("nested"), st.sampled_from(NESTED), VALUES),
    st.tuples(st.just("override"), OVERRIDES),
    st.tuples(st.just("file"), st.sampled_from(FILES), CONTENTS),
    st.tuples(
        st.just("link"),
        st.sampled_from([*FILES, "samples", "checkpoints/last.pt"]),
        st.sampled_from(["symlink", "hardlink"]),
    ),
    st.tuples(st.just("rename"), st.sampled_from(["step_².pt", "step_٣.pt", "step_9.pt"])),
)


def nasty(value, outside: Path):
    return value.replace("OUTSIDE", str(outside)) if isinstance(value, str) else value


def apply(scene: Scene, state: dict, mutation: tuple) -> None:
    kind, *rest = mutation
    if kind == "field":
        state[rest[0]] = nasty(rest[1], scene.outside)
    elif kind == "drop":
        state.pop(rest[0], None)
    elif kind == "config":
        node = state.get("config")
        *parents, last = rest[0].split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = nasty(rest[1], scene.outside)
    elif kind == "nested":
        *parents, last = rest[0].split(".")
        node = state
        for part in parents:
            key = int(part) if part.isdecimal() else part  # an optimiser state's parameter id
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[int(last) if last.isdecimal() else last] = nasty(rest[1], scene.outside)
    elif kind == "override" and isinstance(state.get("overrides"), list):
        state["overrides"].append(nasty(rest[0], scene.outside))
    elif kind == "file":
        path = scene.run / rest[0]
        path.unlink(missing_ok=True)
        path.write_bytes(rest[1].replace(b"OUTSIDE", str(scene.outside).encode()))
    elif kind == "rename":  # a checkpoint under a name that looks like a step
        steps = sorted((scene.run / "checkpoints").glob("step_*.pt"))
        if steps:
            steps[-1].rename(steps[-1].with_name(rest[0]))
    elif kind == "link":
        path, target = scene.run / rest[0], scene.outside / f"linked_{rest[0].replace('/', '_')}"
        if not path.exists() or path.is_symlink():
            return
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
            shutil.rmtree(path)
        else:
            shutil.copy(path, target)
            path.unlink()
        if rest[1] == "symlink" or target.is_dir():
            path.symlink_to(target)
        else:
            os.link(target, path)


def command(verb: str, scene: Scene) -> list[str]:
    out = scene.workdir / "out"
    return {
        "sample": ["sample", f"ckpt={scene.run}", "n=4", f"out={out}.png"],
        "eval": ["eval", f"ckpt={scene.run}", "samples=200", f"out={out}.json"],
        "train": ["train", f"resume={scene.run}", "steps=3", "eval.samples=200"],
        "report": ["report", str(scene.run), f"out={out}"],
    }[verb]


@settings(
    max_examples=36,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
    verb=st.sampled_from(["sample", "eval", "train", "report"]),
)
def test_a_mutated_run_folder_never_escapes_leaks_or_crashes(good_run, mutations, verb):  # noqa: F811
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        scene = Scene(Path(tmp), good_run)
        state = scene.state()
        on_files = [m for m in mutations if m[0] in ("file", "link", "rename")]
        for mutation in mutations:
            if mutation not in on_files:
                apply(scene, state, mutation)
        scene.save(state)
        for mutation in on_files:
            apply(scene, state, mutation)
        scene.before = scene.snapshot()  # what the mutations put outside, e.g. link targets
        result = scene.gan(*command(verb, scene))
        scene.check(result)  # no traceback, no secret anywhere, nothing outside changed
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode in (0, 1), (mutations, result.stderr)
        if result.returncode:
            assert len(lines) == 1 and lines[0].startswith("error: "), (mutations, lines)
        created = {p for p in Path(tmp).iterdir()} - {scene.run, scene.outside}
        assert created <= {scene.workdir / n for n in ("out", "out.png", "out.json")}, created
