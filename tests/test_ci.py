"""CI runs the whole suite whatever the environment says, and reinstalls when the pins change."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_run_ignores_variables_that_would_narrow_the_suite(tmp_path):
    """.ci/run against a stand-in Makefile that prints what `make test` would get."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "Makefile").write_text(
        'test:\n\t@echo "ARGS=[$(ARGS)] ADDOPTS=[$$PYTEST_ADDOPTS] FLAGS=[$(MAKEFLAGS)]'
        ' WORKERS=[$(TEST_WORKERS)]"\n'
    )
    narrowing = {"ARGS": "-k nothing", "PYTEST_ADDOPTS": "-k nothing --co",
                 "MAKEFLAGS": "-i", "PYTEST_PLUGINS": "evil", "MAKELEVEL": "1",
                 "TEST_WORKERS": "0"}  # fmt: skip
    out = subprocess.run([str(tmp_path / ".ci" / "run")], env={**os.environ, **narrowing},
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    # MAKELEVEL (set when the suite itself runs under `make test`) is cleared too, so make
    # prints no "Entering directory" lines around the recipe's output
    assert out.stdout.startswith("ARGS=[] ADDOPTS=[] FLAGS=["), out.stdout
    flags = out.stdout.split("FLAGS=[", 1)[1]
    assert "i" not in flags.split("--")[0], flags  # no -i (ignore errors) from the environment
    assert out.stdout.rstrip().endswith("WORKERS=[]"), out.stdout  # the Makefile's own default


def test_the_install_stamps_depend_on_the_makefile():
    """`make train` installs torch and gan-cli; `make test` adds the dev extras on top: both
    redone when the pins (Makefile) or the dependencies (pyproject.toml) change."""
    out = subprocess.run(["make", "-pn", "-f", str(REPO / "Makefile"), "install"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    rules = {ln.split(":")[0]: ln for ln in out.stdout.splitlines() if ln.startswith(".venv/")}
    assert "pyproject.toml" in rules[".venv/.installed"] and "Makefile" in rules[".venv/.installed"]
    assert ".venv/.installed" in rules[".venv/.installed-dev"].split(":", 1)[1]
    targets = {ln.split(":")[0]: ln for ln in out.stdout.splitlines() if ":" in ln}
    assert "install-dev" in targets["test"] and "install-dev" not in targets["train"]
