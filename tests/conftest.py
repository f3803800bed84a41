"""Shared helpers: compose configs with real Hydra, run the installed `gan` in a subprocess,
read TensorBoard event files back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict
from prefork import Server

from gan_cli import checkpoint
from gan_cli.cli import config_dir  # also registers the schemas
from gan_cli.config import SCHEMAS, TrainConfig, validate
from gan_cli.resume import latest

GAN = str(Path(sys.executable).with_name("gan"))  # the console script pip installed
# `make test` runs the suite on one pytest-xdist worker per core. Each worker, and every `gan`
# it starts, then computes on one CPU thread: two processes at torch's default of one thread
# per core spin against each other and crawl (9x slower on 2 cores, measured).
PARALLEL = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1
if PARALLEL:
    torch.set_num_threads(1)
# A data set no model is tuned for (conf/tuned/ has no file for it): what the models give with
# their plain defaults, 32 px grayscale (composing never loads it).
PLAIN = ("dataset=fake", "dataset.channels=1", "dataset.resolution=32")


def tiny(*overrides: str) -> list[str]:
    """`overrides` plus small networks (the schema's SMALL) and batches for whichever model they
    pick: these tests check behaviour, not image quality."""
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "dcgan")
    small = [f"model.{k}={v}" for k, v in SCHEMAS["model"][model].SMALL.items()]
    return [*overrides, *small, "batch_size=16"]


def compose_train(*overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def spec_of(*overrides: str) -> tuple[DictConfig, TrainConfig]:
    """The composed config and its validated form, with the group choices the CLI passes."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, validate(cfg, choices)


def gan_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    one_thread = {"OMP_NUM_THREADS": "1"} if PARALLEL else {}  # torch's default thread count
    return {**env, **one_thread, **extra}


# Commands fork from a server that has imported what `gan` imports (tests/prefork.py): each
# runs `gan`'s own entry point in a process of its own, seconds sooner.
PREFORKED = Server()


# Tests pin the memory layout instead of probing for it (device.channels_last=auto times both
# layouts, and layout changes rounding): every `gan train` a test runs trains channels-last, as
# every figure in tests/ was measured, unless the test sets the layout itself.
PINNED_LAYOUT = "device.channels_last=true"


def pin_layout(args: tuple[str, ...]) -> tuple[str, ...]:
    if args[:1] != ("train",) or any(a.startswith("device.channels_last=") for a in args):
        return args
    # beside the other overrides: Hydra takes them as one run of words, flags before or after
    # (after the last: a sweep's summary names each job by its overrides, in the order given)
    at = max((i + 1 for i, a in enumerate(args) if "=" in a and not a.startswith("-")),
             default=len(args))  # fmt: skip
    return (*args[:at], PINNED_LAYOUT, *args[at:])


def _start(args: tuple[str, ...], cwd: Path, env: dict | None, stdout: int):
    args = pin_layout(args)
    env = gan_env(**(env or {}))
    if PREFORKED.serves(env, base=gan_env()):
        return PREFORKED.spawn([GAN, *args], cwd, env)
    # a different start-up (thread counts, PYTHON* variables): a real `gan` process
    return subprocess.Popen([GAN, *args], cwd=cwd, env=env, stdout=stdout,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def run_gan(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None):
    """Run `gan ARGS` in `cwd` (never in the repo: its outputs/ stays untouched)."""
    proc = _start(args, cwd, env, subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess([GAN, *args], proc.returncode, out, err)


def start_gan(*args: str, cwd: Path, env: dict | None = None):
    """`gan ARGS` in the background, for tests that signal or kill it: a `subprocess.Popen`,
    or a forked command with the same poll/wait/send_signal and a readable `stderr`."""
    return _start(args, cwd, env, subprocess.DEVNULL)


def wait_for(path: Path, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"gan exited early: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def straight_and_killed(workdir: Path, args: list[str], n: int, env: dict | None = None
                        ) -> tuple[Path, Path]:  # fmt: skip
    """Run `gan train ARGS` to the end in a/, and in b/ SIGKILL it once its checkpoint of step
    `n` exists, then rerun it there (same dir: it resumes). Returns the two run dirs."""
    straight = run_gan("train", *args, f"hydra.run.dir={workdir / 'a'}", cwd=workdir, env=env)
    assert straight.returncode == 0, straight.stderr
    killed = workdir / "b"
    proc = start_gan("train", *args, f"hydra.run.dir={killed}", cwd=workdir, env=env)
    wait_for(killed / "checkpoints" / f"step_{n:07d}.pt", proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    # killed at most a few steps after step n: its newest complete checkpoint is step n
    assert checkpoint.load(latest(killed / "checkpoints"))["step"] == n
    resumed = run_gan("train", *args, f"hydra.run.dir={killed}", cwd=workdir, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {killed}/checkpoints/step_{n:07d}.pt at step {n}" in resumed.stdout
    return workdir / "a", killed


def error_line(result) -> str:
    """The one line a refused command prints; fails the test if there is more."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result.stderr
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert lines[0].startswith("error: ")
    return lines[0]


def read_events(run_dir: Path):
    """An EventAccumulator loaded with every event file directly in `run_dir`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The learning tests (minutes each, longest first), then the other end-to-end ones
    (marked e2e: 5-45 s each), then the unit tests (mostly under a second): `make test` hands
    tests out one at a time to whichever xdist worker is free, so the workers share the long
    ones from the start and finish together on short ones. (The sort is stable, and no module
    with a module-scoped fixture mixes e2e and quick tests, so each such fixture is built
    once per worker as before.)"""
    items.sort(key=lambda item: (item.path.name != "test_learning.py",
                                 item.get_closest_marker("e2e") is None))  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _cache_in_tmp(tmp_path_factory):
    """Reference statistics go to a temporary cache, never to the user's ~/.cache."""
    os.environ["GAN_CLI_CACHE"] = str(tmp_path_factory.mktemp("gan-cli-cache"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory for a `gan` subprocess."""
    path = tmp_path / "work"
    path.mkdir()
    return path
