"""Where a number came from: gan-cli's version (and git commit when run from a checkout),
torch's version and the device. Recorded in every run folder and with every evaluation."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

import torch

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


def native_bf16(device: torch.device) -> bool:
    """Does this device compute bfloat16 natively (so bf16 autocast is a speed-up)?

    CUDA: Ampere or newer. CPU: oneDNN's check for AVX512-BF16 / AMX; on other CPUs bf16 is
    emulated and slower than fp32."""
    if device.type == "cuda":  # is_bf16_supported() also says yes where bf16 is only emulated
        return torch.cuda.get_device_capability(device)[0] >= 8
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def provenance(device: torch.device) -> dict:
    return {"gan_cli": version(), **_git(), "torch": str(torch.__version__),
            "device": device_name(device)}  # fmt: skip
