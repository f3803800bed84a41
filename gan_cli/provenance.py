"""Where a number came from: gan-cli's version (and git commit when run from a checkout),
torch's version and the device. Recorded in every run folder and with every evaluation."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from gan_cli.runtime import native_bf16

_CHECKOUT = Path(__file__).resolve().parent.parent


@functools.cache
def _git() -> dict:
    """The commit of the checkout gan_cli runs from (none for an installed wheel)."""
    if not (_CHECKOUT / ".git").exists():
        return {}
    try:

        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(_CHECKOUT), *args], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()  # fmt: skip

        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": dirty}


def version() -> str:
    try:
        return metadata.version("gan-cli")
    except metadata.PackageNotFoundError:
        return "unknown"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_name()}"


@functools.cache
def cpu_name() -> str:
    """The CPU's model and the vector instructions torch uses on it: machines of one name differ
    several-fold in speed (an AVX2-only EPYC ran the grid25 recipe's step 4x slower than one
    with AVX-512 and native bf16), so CPU speeds and times are only comparable with this."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    bf16 = ", native bf16" if native_bf16(torch.device("cpu")) else ""
    return f"{model} ({torch.backends.cpu.get_cpu_capability()}{bf16})"


def provenance(device: torch.device) -> dict:
    return {"gan_cli": version(), **_git(), "torch": str(torch.__version__),
            "device": device_name(device)}  # fmt: skip
