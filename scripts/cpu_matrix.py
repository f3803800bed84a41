#!/usr/bin/env python3
"""The CPU matrix: the learning tests' runs and the recipes under each instruction-set, library
and precision setting this machine can reach, so that floors hold on every CPU kind.

Kernels round differently by instruction set (PyTorch's ATen kernels, oneDNN's convolutions
and bf16 matmuls, MKL's fp32 matmuls) and by precision; a GAN's trajectory follows the
rounding. One machine can take the paths of smaller CPUs (never of larger ones) through
ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS.

  scripts/cpu_matrix.py fingerprint        which settings change the arithmetic of each run
                                           (60 steps, digest of G's weights)
  scripts/cpu_matrix.py run RUN... [--settings S,...] [--precisions fp32,bf16] [--seeds 0,1,2]
                                           measure; RUN is a name of tests/learning_cases.py
                                           or of RECIPES below
  scripts/cpu_matrix.py table [--write]    docs/cpu-matrix.md's tables from the results (the
                                           floors of tests/learning_cases.py beside them)

Results go to docs/results/cpu_fingerprints.jsonl and docs/results/cpu_matrix.jsonl, one row
per run (command, setting, precision, seed, metrics, digest, wall and CPU seconds, CPU kind,
torch and git commit); a row already there is not run again. Runs take one CPU thread each,
`--jobs` at a time (default: one per core).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from learning_cases import ENV, FLOORS, PLAIN, PRECISION, RUNS, SHOWN  # noqa: E402

# The venv to run (GAN_VENV: another checkout's, e.g. to measure a frozen worktree of a commit);
# the code that runs is this checkout's (PYTHONPATH), whatever the venv's editable install
VENV = Path(os.environ.get("GAN_VENV", ROOT / ".venv"))
GAN, PYTHON = VENV / "bin" / "gan", VENV / "bin" / "python"
CODE = {"PYTHONPATH": str(ROOT)}
RESULTS = ROOT / "docs" / "results"
MATRIX = RESULTS / "cpu_matrix.jsonl"
FINGERPRINTS = RESULTS / "cpu_fingerprints.jsonl"

# Beside the tests' runs: the recipes a user runs, the plain GAN the 2-D recipes beat, and the
# 2-D tests as they were until the matrix showed their single short run to be chaotic
SHORT_2D = ("steps=12000", "eval.every=12000", "batch_size=256")
RECIPES: dict[str, tuple[str, ...]] = {
    "recipe_digits": (),  # plain `gan train`: the DCGAN tuned for the digits
    "recipe_stacked_digits": ("experiment=stacked_digits",),
    # the plain GAN (no R1, EMA or decay) at the 2-D recipes' batch and steps
    "plain_grid25": (
        "experiment=grid25_mlp",
        "dataset=grid25",
        "batch_size=128",
        "steps=38000",
        "eval.every=38000",
    ),
    "plain_ring8": (
        "experiment=grid25_mlp",
        "dataset=ring8",
        "batch_size=128",
        "steps=38000",
        "eval.every=38000",
    ),
    "grid25_short": ("experiment=grid25", *SHORT_2D),
    "ring8_short": ("experiment=ring8", *SHORT_2D),
}
ALL_RUNS = {**RUNS, **RECIPES}
LOWER_IS_BETTER = {"fid", "kid", "reverse_kl", "mode_kl", "mode_kl_b", "class_kl", "intra_fid"}

AVX2 = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
# name -> (environment, the CPU flags it needs): each forces one library onto a smaller CPU's
# path; "avx2 machine" forces all three, as on an AVX2-only CPU
SETTINGS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "native": ({}, ()),
    "aten=avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, ("avx2",)),
    "aten=scalar": ({"ATEN_CPU_CAPABILITY": "default"}, ()),
    "onednn=avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, ("avx2",)),
    "onednn=avx512": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, ("avx512f", "avx512bw")),
    "onednn=amx": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, ("amx_tile", "amx_bf16")),
    "mkl=avx2": ({"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, ("avx2",)),
    "avx2 machine": (AVX2, ("avx2",)),
}


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def reachable(setting: str) -> bool:
    return set(SETTINGS[setting][1]) <= cpu_flags()


def cpu_kind() -> str:
    out = subprocess.run(
        [str(PYTHON), "-c", "from gan_cli.provenance import cpu_name; print(cpu_name())"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **CODE},
    )
    return out.stdout.strip()


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip()


def g_digest(ckpt: Path) -> str:
    """sha256 of G's weights in a checkpoint (read by the venv's torch)."""
    code = (
        "import hashlib,sys,torch; s=torch.load(sys.argv[1],weights_only=True); h=hashlib."
        "sha256(); [h.update(t.float().contiguous().numpy().tobytes()) for t in "
        "s['G'].values()]; print(h.hexdigest()[:16])"
    )
    out = subprocess.run([str(PYTHON), "-c", code, str(ckpt)], capture_output=True, text=True)
    return out.stdout.strip() or "none"


def final_metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.jsonl"
    rows = [json.loads(r) for r in path.read_text().splitlines()] if path.is_file() else []
    final = [r for r in rows if any(k.startswith("Metrics/") for k in r)]
    return {
        k.removeprefix("Metrics/"): v
        for k, v in (final[-1] if final else {}).items()
        if k.startswith("Metrics/")
    }


def train(overrides: list[str], env: dict[str, str], work: Path) -> dict:
    """One `gan train` on one thread; its final metrics, digest and times."""
    run_dir = work / "run"
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **CODE, **env}
    full_env.pop("HYDRA_FULL_ERROR", None)
    started = time.time()
    proc = subprocess.Popen(
        [str(GAN), "train", *overrides, "device.threads=1", f"hydra.run.dir={run_dir}"],
        cwd=work,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    row = {
        "wall_s": round(time.time() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "rc": proc.returncode,
    }
    if proc.returncode:
        row["error"] = err.strip().splitlines()[-1:] or ["?"]
        return row
    row["metrics"] = {k: round(v, 5) for k, v in final_metrics(run_dir).items()}
    row["digest"] = g_digest(run_dir / "checkpoints" / "last.pt")
    return row


def recorded(path: Path) -> list[dict]:
    return [json.loads(r) for r in path.read_text().splitlines()] if path.is_file() else []


def key(row: dict) -> tuple:
    """What makes two runs the same run: a changed command or pin is measured afresh."""
    pinned = json.dumps(row.get("pinned", {}), sort_keys=True)
    return (row["run"], tuple(row["overrides"]), pinned, row["setting"], row["precision"],
            row["seed"], row.get("steps"))  # fmt: skip


def current(row: dict, fingerprints: bool = False) -> bool:
    """Whether a recorded row ran today's command with today's pin (older rows stay in the
    files as history, shown in no table)."""
    run = row["run"]
    if run not in ALL_RUNS or row.get("pinned", {}) != ENV.get(run, {}):
        return False
    return row["overrides"] == (short(run) if fingerprints else list(ALL_RUNS[run]))


def short(run: str) -> list[str]:
    """A run's command cut to the fingerprint's 60 steps."""
    kept = [o for o in ALL_RUNS[run] if not o.startswith(("steps=", "eval.every="))]
    return [*kept, "steps=60", "eval.every=0"]


def measure(path: Path, jobs: list[dict], parallel: int) -> None:
    """Run the jobs not yet in `path`, `parallel` at a time; append a row per finished run."""
    done = {key(r) for r in recorded(path) if r.get("rc") == 0}
    todo = [j for j in jobs if key(j) not in done]
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} recorded)", flush=True)
    meta = {"cpu": cpu_kind(), "git": git_commit()}
    path.parent.mkdir(parents=True, exist_ok=True)

    def one(job: dict) -> dict:
        with tempfile.TemporaryDirectory(prefix="cpu-matrix-") as tmp:
            env = {**SETTINGS[job["setting"]][0], **job["pinned"]}
            overrides = [
                *job["overrides"],
                f"device.precision={job['precision']}",
                f"seed={job['seed']}",
            ]
            if job["run"] in RUNS:  # the tests pin the layout (conftest.PINNED_LAYOUT)
                overrides.append("device.channels_last=true")
            result = train(overrides, env, Path(tmp))
        return {**job, "env": env, **meta, "date": time.strftime("%Y-%m-%d"), **result}

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        for row in pool.map(one, todo):
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            shown = row.get("metrics") or row.get("error")
            print(
                f"{row['run']:<22} {row['setting']:<14} {row['precision']} seed {row['seed']}"
                f" {row['wall_s']:>6.0f} s  {row.get('digest', '')}  {shown}",
                flush=True,
            )


def settings_arg(value: str | None) -> list[str]:
    names = list(SETTINGS) if not value else value.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; choose from {list(SETTINGS)}")
    return [n for n in names if reachable(n)]


def fingerprint(args) -> None:
    """60 steps of each run under each setting: settings with G's digest equal to native's run
    the same arithmetic for that run, and need not be measured apart."""
    jobs = [
        {
            "run": run,
            "overrides": short(run),
            "pinned": ENV.get(run, {}),
            "setting": s,
            "precision": p,
            "seed": 0,
            "steps": 60,
        }
        for run in args.runs or ALL_RUNS
        for p in args.precisions.split(",")
        for s in settings_arg(args.settings)
    ]
    measure(FINGERPRINTS, jobs, args.jobs)


def run(args) -> None:
    unknown = [r for r in args.runs if r not in ALL_RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {list(ALL_RUNS)}")
    jobs = [
        {
            "run": run,
            "overrides": list(ALL_RUNS[run]),
            "pinned": ENV.get(run, {}),
            "setting": s,
            "precision": p,
            "seed": int(seed),
            "steps": None,
        }
        for run in args.runs
        for seed in args.seeds.split(",")
        for p in args.precisions.split(",")
        for s in settings_arg(args.settings)
    ]
    measure(MATRIX, jobs, args.jobs)


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def alike_settings() -> dict[tuple, list[str]]:
    """(run, precision) -> the settings whose 60-step digest equals native's: the same
    arithmetic, measured once under native's name."""
    prints = [r for r in recorded(FINGERPRINTS) if r.get("rc") == 0 and current(r, True)]
    native = {(r["run"], r["precision"]): r["digest"] for r in prints if r["setting"] == "native"}
    same: dict[tuple, list[str]] = {}
    for fp in prints:
        key = (fp["run"], fp["precision"])
        if fp["setting"] != "native" and native.get(key) == fp["digest"]:
            same.setdefault(key, []).append(fp["setting"])
    return same


def floors_table(rows: list[dict]) -> list[str]:
    """A line per floor of tests/learning_cases.py: the worst value measured for it across
    every setting and seed in the precision its test runs, the margin, and what the plain GAN
    reaches."""
    out = [
        "| test | metric | floor | worst measured (setting, precision, seed) | margin | runs "
        "| the plain GAN |",
        "|" + " --- |" * 7,
    ]
    for run, floors in FLOORS.items():
        mine = [r for r in rows if r["run"] == run and not r.get("steps")
                and r["precision"] == PRECISION.get(run, r["precision"])]  # fmt: skip
        plain = [r for r in rows if r["run"] == PLAIN.get(run)]
        for metric, bound in floors.items():
            lower = metric in LOWER_IS_BETTER
            values = [r for r in mine if metric in r["metrics"]]
            if not values:
                out.append(f"| `{run}` | {metric} | {bound} | not measured | | 0 | |")
                continue
            worst = (max if lower else min)(values, key=lambda r: r["metrics"][metric])
            w = worst["metrics"][metric]
            margin = bound - w if lower else w - bound
            seen = [p["metrics"][metric] for p in plain if metric in p["metrics"]]
            plain_cell = f"{fmt(min(seen))} to {fmt(max(seen))}" if seen else ""
            where = f"{worst['setting']}, {worst['precision']}, seed {worst['seed']}"
            out.append(
                f"| `{run}` | {metric} | {'<=' if lower else '>='} {bound} | {fmt(w)} "
                f"({where}) | {fmt(margin)} | {len(values)} | {plain_cell} |"
            )
    return out


def detail_tables(rows: list[dict]) -> list[str]:
    same = alike_settings()
    out = []
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        metrics = next(v for k, v in SHOWN.items() if set(v) <= set(mine[0]["metrics"]))
        command = " ".join(["gan train", *mine[0]["overrides"]])
        out += [
            f"### `{run}`: `{command}`",
            "",
            "| setting | precision | seed | " + " | ".join(metrics) + " | CPU s |",
            "|" + " --- |" * (len(metrics) + 4),
        ]
        for r in sorted(mine, key=lambda r: (r["setting"], r["precision"], r["seed"])):
            alike = same.get((run, r["precision"]), []) if r["setting"] == "native" else []
            name = r["setting"] + (f" (= {', '.join(alike)})" if alike else "")
            cells = [
                name,
                r["precision"],
                str(r["seed"]),
                *(fmt(r["metrics"].get(m, "")) for m in metrics),
                fmt(r.get("cpu_s", "")),
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def fingerprint_table() -> list[str]:
    prints = [r for r in recorded(FINGERPRINTS) if r.get("rc") == 0 and current(r, True)]
    settings = list(SETTINGS)
    out = [
        "| run | precision | " + " | ".join(settings) + " |",
        "|" + " --- |" * (len(settings) + 2),
    ]
    groups = dict.fromkeys((r["run"], r["precision"]) for r in prints)
    for run, precision in groups:
        digests = {
            r["setting"]: r["digest"]
            for r in prints
            if (r["run"], r["precision"]) == (run, precision)
        }
        letters: dict[str, str] = {}
        cells = [
            letters.setdefault(digests[s], "ABCDEFGH"[len(letters)]) if s in digests else "-"
            for s in settings
        ]
        out.append(f"| `{run}` | {precision} | " + " | ".join(cells) + " |")
    return out


MARK = re.compile(
    r"(<!-- generated by scripts/cpu_matrix.py -->\n)(.*?)(<!-- /generated -->)", re.S
)
DOC = ROOT / "docs" / "cpu-matrix.md"


def render() -> str:
    rows = [r for r in recorded(MATRIX) if r.get("rc") == 0 and current(r)]
    parts = [
        "## Floors",
        "",
        *floors_table(rows),
        "",
        "## Which settings compute alike",
        "",
        "The G digest after 60 steps under each setting (a letter per distinct digest in "
        "its row; -: not run, the machine measured lacks AMX):",
        "",
        *fingerprint_table(),
        "",
        "## Every run",
        "",
        *detail_tables(rows),
    ]
    return "\n".join(parts)


def table(args) -> None:
    text = DOC.read_text()
    new = MARK.sub(lambda m: m[1] + render() + "\n" + m[3], text)
    if getattr(args, "write", False):
        DOC.write_text(new)
        print(f"wrote {DOC.relative_to(ROOT)}")
    else:
        print(render())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fingerprint", "run", "table"])
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--settings")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--write", action="store_true", help="table: rewrite docs/cpu-matrix.md")
    args = parser.parse_args()
    if not GAN.exists():
        raise SystemExit(f"{GAN}: missing; run `make install` first")
    {"fingerprint": fingerprint, "run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
