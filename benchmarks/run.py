"""`make bench`: `gan train` against a bare PyTorch loop of the same networks and settings.

For each setting, the two run interleaved (gan, bare, gan, bare, ...), each in a fresh process,
several times; the table shows medians. `gan train` is timed by its own loop clock between log
steps (metrics.jsonl, `speed/img_per_s`), the first log interval dropped as warm-up; the bare
loop (bare_loop.py) times the same number of steps after the same warm-up. Also timed: whole
processes of `gan --help` and `gan train --cfg job`.

The figures are data: docs/results/benchmarks/cpu.json (`make bench`) and cuda.json (`make
gpu-check`); benchmarks/RESULTS.md is generated from them (`--render`, which `make docs` runs;
tests/test_docs.py fails when they disagree). Options: --repeats N, --quick (one repeat, for a
smoke test), --compile (adds torch.compile rows; minutes of compiling on a CPU).
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
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gan_cli.provenance import cpu_name

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "docs" / "results" / "benchmarks"  # cpu.json, cuda.json
GAN = str(Path(sys.executable).with_name("gan"))
WARMUP, TIMED, LOG_EVERY = 5, 20, 5  # steps
# On a GPU 20 steps of a small DCGAN last a tenth of a second, and the ratio swung 0.70-1.05
# between two runs (H200, 2026-12-01): CUDA rows time 10x more steps.
GPU_STEPS = 10


@dataclass(frozen=True)
class Case:
    device: str
    resolution: int
    batch: int
    precision: str
    channels_last: bool | str  # or "auto": the probe of device.channels_last
    compile: bool
    model: str = "dcgan"
    sets: tuple[str, ...] = ()  # model parameters, key=value, the same for both loops


def steps_of(case: Case) -> tuple[int, int, int]:
    """(warm-up, timed, log interval) in steps for this case."""
    k = GPU_STEPS if case.device == "cuda" else 1
    return WARMUP * k, TIMED * k, LOG_EVERY * k


# StyleGAN2 networks sized for a CPU (experiment=stylegan2_digits', with 128 channels where
# the preset now has 64 at 8x8): the YAML's defaults (config-f widths) take seconds per step.
STYLEGAN2_DIGITS = ("latent_dim=128", "w_dim=128", "mapping_depth=4", "channel_base=2048",
                    "channel_max=128")  # fmt: skip


def run_child(args: list[str], cwd: str | None = None) -> str:
    """The stdout of a child process; its stderr in one message if it fails."""
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args[:3])} ... failed:\n{out.stderr[-2000:]}")
    return out.stdout


def gan_train_speed(case: Case, dataset: str = "fake", extra: tuple[str, ...] = (),
                    scale: int = 1) -> dict:  # fmt: skip
    """img/s of `gan train` on `case` (resolution 0: the config's own), `scale` x the steps."""
    warmup, timed, log_every = (n * scale for n in steps_of(case))
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            GAN, "train", f"model={case.model}", f"dataset={dataset}",
            *([f"dataset.resolution={case.resolution}"] if case.resolution else []),
            f"batch_size={case.batch}",
            f"steps={warmup + timed}", f"log_every={log_every}", "sample_every=1000000",
            "ckpt_every=1000000", "eval.every=0", f"device={case.device}",
            f"device.precision={case.precision}", f"device.channels_last={case.channels_last}",
            f"device.compile={case.compile}", f"hydra.run.dir={tmp}/run",
            *(f"model.{kv}" for kv in case.sets), *extra,
        ]  # fmt: skip
        if dataset == "fake":
            args.append("dataset.channels=3")
        run_child(args, cwd=tmp)
        rows = [json.loads(r) for r in Path(tmp, "run", "metrics.jsonl").read_text().splitlines()]
    speeds = [r["speed/img_per_s"] for r in rows if "speed/img_per_s" in r][warmup // log_every :]
    return {"img_per_s": len(speeds) / sum(1 / s for s in speeds)}  # the harmonic mean


def default_run() -> dict[str, float]:
    """`gan train` as typed (the tuned DCGAN on the digits, 8x8, batch 64, R1 and EMA), in plain
    fp32 NCHW against its defaults; 8x8 steps take milliseconds, so 10x the steps are timed."""
    plain = Case("cpu", 0, 64, "fp32", False, False)
    return {
        "fp32, contiguous": gan_train_speed(plain, "digits", scale=10)["img_per_s"],
        "defaults (precision auto, channels-last auto)": gan_train_speed(
            Case("cpu", 0, 64, "auto", "auto", False), "digits", scale=10)["img_per_s"],
    }  # fmt: skip


def bare_speed(case: Case) -> dict:
    warmup, timed, _ = steps_of(case)
    args = [sys.executable, str(HERE / "bare_loop.py"), "--model", case.model, "--resolution",
            str(case.resolution), "--batch", str(case.batch), "--precision", case.precision,
            "--warmup", str(warmup), "--steps", str(timed),
            *(["--channels-last"] if case.channels_last else []),
            *(["--compile"] if case.compile else []),
            *([] if case.device == "auto" else ["--device", case.device]),
            *(a for kv in case.sets for a in ("--set", kv))]  # fmt: skip
    out = run_child(args)
    return json.loads(out.strip().splitlines()[-1])


def folder_vs_memory(repeats: int, n: int = 5000) -> dict:
    """A folder of n JPEGs (80 px, resized to 64) read through its cache, against the same
    number of random images held in memory: DCGAN 64 px, batch 64, bf16 where native."""
    import numpy as np
    from PIL import Image

    case = Case("cpu", 64, 64, "auto", True, False)
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(n):
            pixels = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(Path(tmp) / f"{i:05d}.jpg", quality=90)
        folder = ("dataset.channels=3", f"dataset.path={tmp}", f"dataset.cache_dir={tmp}/cache")
        t0 = time.perf_counter()
        gan_train_speed(case, "folder", folder)  # builds the cache (and trains a little)
        first = time.perf_counter() - t0
        cached, memory = [], []
        for _ in range(repeats):  # interleaved
            cached.append(gan_train_speed(case, "folder", folder)["img_per_s"])
            memory.append(gan_train_speed(case, "fake", (f"dataset.size={n}",))["img_per_s"])
    row = {
        "images": n,
        "first_run_s": first,
        "cached": statistics.median(cached),
        "in_memory": statistics.median(memory),
        "cached_runs": cached,
        "memory_runs": memory,
    }
    row["ratio"] = row["cached"] / row["in_memory"]
    print(f"folder of {n} JPEGs, cached: {row['cached']:.1f} img/s, in memory "
          f"{row['in_memory']:.1f} img/s, ratio {row['ratio']:.3f}", flush=True)  # fmt: skip
    return row


def process_seconds(args: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict:
    info = {
        "cpu": cpu_name(),  # model and vector instructions (AVX2, AVX512, native bf16)
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


def gpu_section(result: dict | None) -> str:
    """The CUDA rows (cuda.json): each `make gpu-check` run with its own machine and settings,
    or a line saying none were measured."""
    lines = ["## CUDA (`make gpu-check`)"]
    for run in (result or {}).get("runs", []):
        m, steps = run["machine"], run["steps"]
        lines += ["", f"Measured on {m.get('gpu', '?')} ({m['date']}, torch {m['torch']}); "
                  f"64x64, random images, {steps['timed']} steps timed after "
                  f"{steps['warmup']}, median of {run['repeats']} runs of each loop. "
                  f"{run.get('note', '')}".rstrip(), "", *table_rows(run["rows"])]  # fmt: skip
    if len(lines) == 1:
        lines += ["", "GPU figures are not measured yet: no GPU was available."]
    return "\n".join(lines)


def read(name: str) -> dict | None:
    path = DATA / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def write(name: str, result: dict) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / f"{name}.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")


def render() -> str:
    """RESULTS.md from the data files: what `make docs` writes and the docs test compares."""
    return markdown(read("cpu"), read("cuda"))


def measure(cases: list[Case], repeats: int) -> list[dict]:
    rows = []
    for case in cases:
        ours, bare = [], []
        for _ in range(repeats if not case.compile else max(1, repeats // 2)):  # interleaved
            ours.append(gan_train_speed(case)["img_per_s"])
            bare.append(bare_speed(case))
        row = {**asdict(case), "gan_train": statistics.median(ours),
               "bare_loop": statistics.median(b["img_per_s"] for b in bare),
               "gan_runs": ours, "bare_runs": [b["img_per_s"] for b in bare],
               "params": bare[0]["params"], "peak_mb": max(b["peak_mb"] for b in bare)}  # fmt: skip
        row["ratio"] = row["gan_train"] / row["bare_loop"]
        rows.append(row)
        print(f"{case}: gan {row['gan_train']:.1f} img/s, bare {row['bare_loop']:.1f} img/s, "
              f"ratio {row['ratio']:.3f}", flush=True)  # fmt: skip
    return rows


def gpu_check(repeats: int, models: list[str] | None = None) -> None:
    """A few CUDA rows (one compiled) into cuda.json and RESULTS.md, rewritten after each row
    so that a run cut at a lease's time limit keeps what it measured; `--model` picks rows
    (each row cost 1-4 minutes on an H200, most of it outside the timed steps)."""
    if not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA GPU is visible; nothing measured")
    bf16 = torch.cuda.get_device_capability()[0] >= 8
    low = "bf16" if bf16 else "fp16"
    # the compiled row contiguous in both loops: compiled on CUDA, inductor picks the layout
    # (runtime.make_runtime says why)
    cases = [Case("cuda", 64, 64, "fp32", True, False), Case("cuda", 64, 64, low, True, False),
             Case("cuda", 64, 256, low, True, False), Case("cuda", 64, 64, low, False, True),
             Case("cuda", 64, 64, low, True, False, "resnet"),
             Case("cuda", 64, 64, low, True, False, "stylegan2", ("channel_base=8192",
                                                                   "channel_max=256"))]  # fmt: skip
    cases = [c for c in cases if not models or c.model in models]
    steps = {"warmup": WARMUP * GPU_STEPS, "timed": TIMED * GPU_STEPS}
    run = {"machine": machine(), "repeats": repeats, "steps": steps, "rows": []}
    earlier = (read("cuda") or {"runs": []})["runs"]  # kept: each with its own machine
    for case in cases:
        run["rows"] += measure([case], repeats)
        write("cuda", {"runs": [*earlier, run]})
        (HERE / "RESULTS.md").write_text(render())
    print(gpu_section(read("cuda")))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--gpu-check", action="store_true", help="only a few CUDA rows (make gpu-check)")
    p.add_argument("--model", action="append", help="with --gpu-check: only this model's rows")
    p.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from the data")
    a = p.parse_args()
    if a.render:
        (HERE / "RESULTS.md").write_text(render())
        return
    repeats = 1 if a.quick else a.repeats
    if a.gpu_check:
        gpu_check(min(repeats, 2), a.model)
        return

    settings = (("fp32", False), ("fp32", True), ("bf16", True))  # (precision, channels-last)
    cases = [Case("cpu", 64, 64, prec, cl, False) for prec, cl in settings]
    cases += [Case("cpu", 32, 64, "bf16", True, False, "resnet"),
              Case("cpu", 32, 64, "bf16", True, False, "stylegan2", STYLEGAN2_DIGITS)]  # fmt: skip
    if a.compile:
        cases.append(Case("cpu", 64, 64, "bf16", True, True))
    rows = measure(cases, repeats)

    default = default_run()
    folder = folder_vs_memory(repeats)
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
        "folder": folder,
        "startup_s": startup,
    }
    write("cpu", result)
    (HERE / "RESULTS.md").write_text(render())
    print(render())


def _fmt(value: float | None, scale: float, spec: str, unit: str) -> str:
    """A figure, or an empty cell where the run never recorded it (never a made-up 0)."""
    return "" if value is None else f"{value / scale:{spec}}{unit}"


def table_rows(rows: list[dict]) -> list[str]:
    out = ["| device | model | px | batch | precision | channels-last | compile | parameters "
           "| peak memory (bare loop) | gan train img/s | bare loop img/s | ratio |",
           "|" + " --- |" * 12]  # fmt: skip
    for r in rows:
        out.append(
            f"| {r['device']} | {r.get('model', 'dcgan')} | {r['resolution']} | {r['batch']} | "
            f"{r['precision']} | {'yes' if r['channels_last'] else 'no'} | "
            f"{'yes' if r['compile'] else 'no'} | {_fmt(r.get('params'), 1e6, '.2f', ' M')} | "
            f"{_fmt(r.get('peak_mb'), 1, '.0f', ' MB')} | {r['gan_train']:.1f} | "
            f"{r['bare_loop']:.1f} | {r['ratio']:.3f} |"
        )
    return out


def markdown(result: dict, gpu: dict | None) -> str:
    m = result["machine"]
    out = [
        "<!-- generated from docs/results/benchmarks/ by `python benchmarks/run.py --render` -->",
        "# Benchmark results",
        "",
        f"Written by `make bench` on {m['date']}: {m['cpu']}, {m['cores']} cores "
        f"({m['torch_threads']} torch threads){', ' + m['gpu'] if 'gpu' in m else ''}; "
        f"Python {m['python']}, torch {m['torch']}.",
        "",
        f"Random images (`dataset=fake`), non-saturating loss, Adam; DCGAN and the ResNet with "
        f"their YAML's widths, StyleGAN2 with CPU-sized networks (w 128, mapping 4, 64-128 "
        f"channels). Each figure is the "
        f"median of {result['repeats']} interleaved runs, each timing {result['steps']['timed']}"
        f" steps after {result['steps']['warmup']} warm-up steps, each in a fresh process.",
        "",
        *table_rows(result["rows"]),
    ]
    f = result["folder"]
    out += [
        "",
        f"An image folder of {f['images']:,} JPEGs (80 px, resized to 64), read from its "
        f"uint8 cache, against as many images held in memory (DCGAN 64 px, batch 64): "
        f"{f['cached']:.1f} against {f['in_memory']:.1f} img/s, ratio {f['ratio']:.3f}; "
        f"the first run, which builds the cache, took {f['first_run_s']:.0f} s.",
    ]
    out += ["", "The default run, `gan train` as typed (the tuned DCGAN on the digits, 8x8, batch "
            "64, R1 and EMA), images/s:", ""]  # fmt: skip
    out += [f"- {k}: {v:.1f}" for k, v in result["default_run"].items()]
    out += ["", "Whole-process start-up (median of 5):", ""]
    out += [f"- `{k}`: {v:.2f} s" for k, v in result["startup_s"].items()]
    out += ["", gpu_section(gpu)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
