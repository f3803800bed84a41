"""`make bench`: `gan train` against a bare PyTorch loop of the same networks and settings.

For each setting, the two run interleaved (gan, bare, gan, bare, ...), each in a fresh process,
several times; the table shows medians. `gan train` is timed by its own loop clock between log
steps (metrics.jsonl, `speed/img_per_s`), the first log interval dropped as warm-up; the bare
loop (bare_loop.py) times the same number of steps after the same warm-up. Also timed: whole
processes of `gan --help` and `gan train --cfg job`.

Writes benchmarks/results.json and benchmarks/RESULTS.md. Options: --repeats N, --quick (one
repeat, for a smoke test), --compile (adds torch.compile rows; minutes of compiling on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
GAN = str(Path(sys.executable).with_name("gan"))
WARMUP, TIMED, LOG_EVERY = 5, 20, 5  # steps


def gan_train_speed(res: int, batch: int, precision: str, channels_last: bool, compile_: bool,
                    dataset: str = "fake", device: str = "auto") -> float:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            GAN, "train", f"dataset={dataset}", f"dataset.resolution={res}",
            f"batch_size={batch}", f"steps={WARMUP + TIMED}", f"log_every={LOG_EVERY}",
            "sample_every=1000000", "ckpt_every=1000000", "eval.every=0", f"device={device}",
            f"device.precision={precision}", f"device.channels_last={channels_last}",
            f"device.compile={compile_}", f"hydra.run.dir={tmp}/run",
        ]  # fmt: skip
        if dataset == "fake":
            args.append("dataset.channels=3")
        subprocess.run(args, check=True, capture_output=True, cwd=tmp)
        rows = [json.loads(r) for r in Path(tmp, "run", "metrics.jsonl").read_text().splitlines()]
    speeds = [r["speed/img_per_s"] for r in rows if "speed/img_per_s" in r][WARMUP // LOG_EVERY :]
    return len(speeds) / sum(1 / s for s in speeds)  # equal intervals: the harmonic mean


def bare_speed(res: int, batch: int, precision: str, channels_last: bool, compile_: bool,
               device: str = "auto") -> float:  # fmt: skip
    args = [
        sys.executable,
        str(HERE / "bare_loop.py"),
        "--resolution",
        str(res),
        "--batch",
        str(batch),
        "--precision",
        precision,
        "--warmup",
        str(WARMUP),
        "--steps",
        str(TIMED),
    ]
    args += ["--channels-last"] if channels_last else []
    args += ["--compile"] if compile_ else []
    args += [] if device == "auto" else ["--device", device]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["img_per_s"]


def process_seconds(args: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


GPU_START, GPU_END = "<!-- gpu-check: start -->", "<!-- gpu-check: end -->"
GPU_NONE = "GPU figures are not measured yet: no GPU was available where this file was written."


def gpu_section(rows: list[dict]) -> str:
    """The CUDA rows, between markers that `make gpu-check` rewrites."""
    lines = [GPU_START, "## CUDA (`make gpu-check`)", ""]
    if rows:
        m = machine()
        lines += [f"Measured on {m.get('gpu', '?')} ({m['date']}, torch {m['torch']}); DCGAN "
                  "64x64, random images, median of the runs listed.", "",
                  *table_rows(rows)]  # fmt: skip
    else:
        lines.append(GPU_NONE)
    return "\n".join([*lines, GPU_END])


def kept_gpu_section() -> str:
    """The GPU section of the current RESULTS.md (a CPU-only `make bench` keeps it)."""
    try:
        text = (HERE / "RESULTS.md").read_text()
    except OSError:
        return gpu_section([])
    if GPU_START in text and GPU_END in text:
        return text[text.index(GPU_START) : text.index(GPU_END) + len(GPU_END)]
    return gpu_section([])


def measure(cases: list[tuple], repeats: int) -> list[dict]:
    rows = []
    for dev, res, batch, prec, cl, comp in cases:
        ours, bare = [], []
        for _ in range(repeats if not comp else max(1, repeats // 2)):  # interleaved
            ours.append(gan_train_speed(res, batch, prec, cl, comp, device=dev))
            bare.append(bare_speed(res, batch, prec, cl, comp, device=dev))
        row = {
            "device": dev, "resolution": res, "batch": batch, "precision": prec,
            "channels_last": cl, "compile": comp,
            "gan_train": statistics.median(ours), "bare_loop": statistics.median(bare),
            "gan_runs": ours, "bare_runs": bare,
        }  # fmt: skip
        row["ratio"] = row["gan_train"] / row["bare_loop"]
        rows.append(row)
        print(
            f"{dev} {res}px b{batch} {prec} cl={cl} compile={comp}: gan {row['gan_train']:.1f}"
            f" img/s, bare {row['bare_loop']:.1f} img/s, ratio {row['ratio']:.3f}",
            flush=True,
        )
    return rows


def gpu_check(repeats: int) -> None:
    """A few CUDA rows (one compiled) into RESULTS.md's GPU section, in a few minutes."""
    if not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA GPU is visible; nothing measured")
    bf16 = torch.cuda.get_device_capability()[0] >= 8
    low = "bf16" if bf16 else "fp16"
    cases = [("cuda", 64, 64, "fp32", True, False), ("cuda", 64, 64, low, True, False),
             ("cuda", 64, 256, low, True, False), ("cuda", 64, 64, low, True, True)]  # fmt: skip
    rows = measure(cases, repeats)
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.is_file() else ""
    section = gpu_section(rows)
    if GPU_START in text and GPU_END in text:
        text = text[: text.index(GPU_START)] + section + text[text.index(GPU_END) + len(GPU_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    print(section)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--gpu-check", action="store_true", help="only a few CUDA rows (make gpu-check)")
    a = p.parse_args()
    repeats = 1 if a.quick else a.repeats
    if a.gpu_check:
        gpu_check(min(repeats, 2))
        return

    # (device, resolution, batch, precision, channels_last, compile)
    settings = (("fp32", False), ("fp32", True), ("bf16", True))  # (precision, channels-last)
    cases = [("cpu", 64, 64, prec, cl, False) for prec, cl in settings]
    if a.compile:
        cases.append(("cpu", 64, 64, "bf16", True, True))
    rows = measure(cases, repeats)

    # The default `make train` run (digits 32x32, batch 64): settings before issue 5 vs now.
    default = {
        "before (fp32, contiguous)": gan_train_speed(32, 64, "fp32", False, False, "digits"),
        "now (defaults: precision auto, channels-last)": gan_train_speed(
            32, 64, "auto", True, False, "digits"
        ),
    }
    startup = {
        "gan --help": process_seconds([GAN, "--help"]),
        "gan train --cfg job": process_seconds([GAN, "train", "--cfg", "job"]),
    }
    result = {
        "machine": machine(),
        "steps": {"warmup": WARMUP, "timed": TIMED},
        "repeats": repeats,
        "rows": rows,
        "default_run": default,
        "startup_s": startup,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (HERE / "RESULTS.md").write_text(table)
    print(table)


def table_rows(rows: list[dict]) -> list[str]:
    out = [
        "| device | px | batch | precision | channels-last | compile | gan train img/s "
        "| bare loop img/s | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r['device']} | {r['resolution']} | {r['batch']} | {r['precision']} | "
            f"{'yes' if r['channels_last'] else 'no'} | {'yes' if r['compile'] else 'no'} | "
            f"{r['gan_train']:.1f} | {r['bare_loop']:.1f} | {r['ratio']:.3f} |"
        )
    return out  # fmt: skip


def markdown(result: dict) -> str:
    m = result["machine"]
    out = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {m['date']}: {m['cpu']}, {m['cores']} cores "
        f"({m['torch_threads']} torch threads){', ' + m['gpu'] if 'gpu' in m else ''}; "
        f"Python {m['python']}, torch {m['torch']}.",
        "",
        f"DCGAN on random images (`dataset=fake`), non-saturating loss, Adam. Each figure is the "
        f"median of {result['repeats']} interleaved runs, each timing {result['steps']['timed']}"
        f" steps after {result['steps']['warmup']} warm-up steps, each in a fresh process.",
        "",
        *table_rows(result["rows"]),
    ]
    out += ["", "Default `gan train` run (digits, 32x32, batch 64), images/s:", ""]
    out += [f"- {k}: {v:.1f}" for k, v in result["default_run"].items()]
    out += ["", "Whole-process start-up (median of 5):", ""]
    out += [f"- `{k}`: {v:.2f} s" for k, v in result["startup_s"].items()]
    out += ["", kept_gpu_section()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
