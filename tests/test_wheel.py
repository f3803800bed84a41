"""The built wheel carries conf/, and a plain (non-editable) install composes from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pip(*args: str) -> None:
    """pip, offline and without dependencies: torch and friends are already installed."""
    cmd = [sys.executable, "-m", "pip", args[0], "--quiet", "--no-deps", *args[1:]]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


@pytest.mark.e2e
def test_wheel_has_every_config_and_works_installed(tmp_path: Path):
    dist = tmp_path / "dist"
    pip("wheel", "--no-build-isolation", "-w", str(dist), str(REPO))
    (wheel,) = dist.glob("gan_cli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(p.relative_to(REPO / "conf") for p in (REPO / "conf").rglob("*.yaml"))
    assert len(configs) >= 20
    missing = [str(c) for c in configs if f"gan_cli/conf/{c.as_posix()}" not in names]
    assert not missing, f"configs not in the wheel: {missing}"

    site = tmp_path / "site"
    pip("install", "--target", str(site), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import gan_cli.cli as c; print(c.__file__, c.config_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # not the checkout's conf/
    out = subprocess.run(
        [sys.executable, "-m", "gan_cli", "train", "--cfg", "job", "loss=hinge", "model=mlp"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "gan_cli.losses.hinge.Hinge" in out.stdout and "gan_cli.models.mlp.build" in out.stdout
