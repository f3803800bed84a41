"""`gan reproduce NAME`: rerun a published table from its results file (docs/results/NAME.json)
and print our numbers beside the stored ones and the paper's.

    gan reproduce --list                 the tables, their rows, seeds and cost
    gan reproduce grid25                 every row over its seeds
    gan reproduce grid25 --quick         the short version, compared with short runs stored
                                         for this CPU kind and precision
    gan reproduce digits --seeds 0,1     other seeds;  --rows recipe  some rows only
    gan reproduce digits --update        store what ran in the results file (then `make docs`)

Each row's seeds run as one `gan train --multirun` in a temporary folder: with the joblib
launcher where it is installed (`gan-cli[joblib]`: one job per core at a time), else one after
another; where a row has fewer seeds than there are jobs (`--seeds 2`), several rows run side
by side, each run on its share of the cores (`device.threads`). A progress bar per row counts
finished jobs. A row with `"of": ROW` measures ROW's runs instead of training its own: its
command is `gan eval ckpt=RUN ...` (the truncation trick, other samples), run on each seed's
last checkpoint, and ROW is trained with it when it was not asked for. A figure "differs" when
our mean lies further from the stored mean than twice the larger of the two spreads (std over
seeds; a single run has none, so it differs when it is not equal). Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gan_cli import results
from gan_cli.errors import GanError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gan reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="a table of docs/results/")
    parser.add_argument("--list", action="store_true", help="name the tables and their cost")
    parser.add_argument("--quick", action="store_true", help="the short version of each row")
    parser.add_argument("--seeds", help="comma-separated seeds instead of the table's")
    parser.add_argument("--rows", help="comma-separated row names (default: every row)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="runs at a time with the joblib launcher (default: one per core)",
    )
    parser.add_argument("--update", action="store_true", help="store the runs in the file")
    args = parser.parse_args(argv)
    if not args.list and not args.name:
        parser.error("name a table (gan reproduce --list names them)")
    return args


def listing() -> str:
    """The tables a command reruns: their rows, seeds and cost (minutes, one run after another,
    on the machine that measured them; `quick`: the short version)."""
    lines = [f"{'table':<20} {'rows':>4} {'seeds':>5} {'minutes':>8} {'quick':>6}  title"]
    figures_only = []
    for name in results.names():
        t = results.load(name)
        if "targets" in t:  # verdicts computed from other tables: nothing to rerun
            continue
        rows = [r for r in t.get("rows", []) if r.get("command") and "of" not in r]
        if not rows:
            figures_only.append(name)  # measured before their runs were kept
            continue
        runs = len(rows) * len(t.get("seeds", []))
        full = f"{runs * t['minutes_per_run']:.0f}" if "minutes_per_run" in t else "-"
        quick = t.get("quick", {})
        quick_runs = len(quick.get("rows", rows)) * len(t.get("seeds", []))
        quick = f"{quick_runs * quick['minutes_per_run']:.0f}" if quick else "-"
        lines.append(f"{name:<20} {len(rows):>4} {len(t['seeds']):>5} {full:>8} {quick:>6}  "
                     f"{t['title']}")  # fmt: skip
    lines.append("minutes: one run after another, on the machine that measured each table")
    if figures_only:
        lines.append("figures only, no command to rerun (measured before runs were kept; "
                     f"docs/stabilizers.md says how): {', '.join(figures_only)}")  # fmt: skip
    return "\n".join(lines)


def gan_command() -> list[str]:
    here = Path(sys.executable).with_name("gan")
    return [str(here)] if here.exists() else [sys.executable, "-m", "gan_cli"]


def joblib_installed() -> bool:
    try:
        import hydra_plugins.hydra_joblib_launcher  # noqa: F401
    except ImportError:
        return False
    return True


def run_rows(rows: list[dict], seeds: list[int], extra: list[str], folder: Path,
             jobs: int) -> dict[str, list[dict]]:  # fmt: skip
    """Every row over `seeds`; rows side by side where one row's seeds leave jobs unused."""
    side_by_side = max(1, jobs // len(seeds)) if joblib_installed() else 1
    side_by_side = min(side_by_side, len(rows))
    if side_by_side > 1:  # each run on its share of the cores
        threads = max(1, (os.cpu_count() or 1) // (side_by_side * len(seeds)))
        extra = [*extra, f"device.threads={threads}"]
    with ThreadPoolExecutor(side_by_side) as pool:
        done = [pool.submit(run_row, r, seeds, extra, folder / r["name"], jobs, i % side_by_side)
                for i, r in enumerate(rows)]  # fmt: skip
        return {r["name"]: d.result() for r, d in zip(rows, done, strict=True)}


def run_row(row: dict, seeds: list[int], extra: list[str], folder: Path, jobs: int,
            bar: int = 0) -> list[dict]:  # fmt: skip
    """One row over `seeds`: a `gan train --multirun` into `folder`; the runs it made."""
    words = shlex.split(row["command"])
    if words[:2] != ["gan", "train"]:
        raise GanError(f"row {row['name']}: only `gan train` commands are rerun")
    launcher = []
    if joblib_installed() and jobs > 1 and len(seeds) > 1:
        launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={min(jobs, len(seeds))}"]
    argv = [*gan_command(), "train", "--multirun", *words[2:], *extra, *launcher,
            f"seed={','.join(map(str, seeds))}", f"hydra.sweep.dir={folder}",
            "hydra.sweep.subdir=${hydra.job.num}"]  # fmt: skip
    with open(folder.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _progress(proc, folder, len(seeds), row["name"], bar)
    runs = [read_run(folder / str(i), seed) for i, seed in enumerate(seeds)]
    failed = [seed for seed, r in zip(seeds, runs, strict=True) if r is None]
    if failed:
        raise GanError(f"row {row['name']}: seeds {failed} did not finish; see "
                       f"{folder.with_suffix('.log')}")  # fmt: skip
    return runs


def eval_row(row: dict, trained: Path, seeds: list[int], folder: Path) -> list[dict]:
    """A row of another row's runs (`"of"`): its `gan eval ckpt=RUN ...` on each seed's last
    checkpoint in `trained`; a run keeps the trained run's CPU kind, precision and commit."""
    words = shlex.split(row["command"])
    if words[:2] != ["gan", "eval"] or "ckpt=RUN" not in words:
        raise GanError(f"row {row['name']}: a row of another row's runs is `gan eval ckpt=RUN ...`")
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, seed in enumerate(seeds):
        out, ckpt = folder / f"{i}.json", trained / str(i) / "checkpoints" / "last.pt"
        argv = [*gan_command(), "eval", *(f"ckpt={ckpt}" if w == "ckpt=RUN" else w
                                         for w in words[2:]), f"out={out}"]  # fmt: skip
        with open(folder.with_suffix(".log"), "a") as log:
            subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
        if not out.is_file():
            raise GanError(f"row {row['name']}: seed {seed} was not measured; see "
                           f"{folder.with_suffix('.log')}")  # fmt: skip
        origin = read_run(trained / str(i), seed) or {}
        runs.append({"seed": seed, "metrics": json.loads(out.read_text())["runs"][0]["metrics"],
                     **{k: origin[k] for k in ("cpu", "precision", "git") if k in origin},
                     "date": time.strftime("%Y-%m-%d")})  # fmt: skip
    return runs


def _progress(proc: subprocess.Popen, folder: Path, total: int, name: str, line: int) -> None:
    from tqdm import tqdm

    with tqdm(total=total, desc=name, unit="run", disable=None, position=line) as bar:
        while proc.poll() is None:
            done = len(list(folder.glob("*/status.json")))
            bar.update(done - bar.n)
            time.sleep(1)
        bar.update(len(list(folder.glob("*/status.json"))) - bar.n)


def read_run(run_dir: Path, seed: int) -> dict | None:
    """A finished run as a results file stores it (its final evaluation and what it ran on)."""
    rows = [json.loads(line) for line in _lines(run_dir / "metrics.jsonl")]
    final = [r for r in rows if any(k.startswith("Metrics/") for k in r)]
    if not final:
        return None
    starts = [json.loads(line) for line in _lines(run_dir / "provenance.jsonl")]
    run = {"seed": seed,
           "metrics": {k.removeprefix("Metrics/"): v for k, v in final[-1].items()
                       if k.startswith("Metrics/")},
           "wall_s": rows[-1].get("wall_s"), "cpu_s": rows[-1].get("cpu_s")}  # fmt: skip
    if starts:
        run["cpu"] = starts[-1].get("device", "").removeprefix("cpu: ")
        run["precision"] = starts[-1].get("precision")
        run["threads"] = starts[-1].get("threads")
        run["git"] = (starts[-1].get("git_commit") or "")[:10] or None
    run["date"] = time.strftime("%Y-%m-%d")
    return {k: v for k, v in run.items() if v is not None}


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def differs(ours: dict, stored: dict | None) -> bool | None:
    """Beyond the stored spread: |mean difference| > 2 x the larger std (None: no reference)."""
    if stored is None or not math.isfinite(stored.get("mean", math.nan)):
        return None
    spread = max(ours.get("std") or 0.0, stored.get("std") or 0.0)
    if not math.isfinite(spread):
        spread = 0.0
    gap = abs(ours["mean"] - stored["mean"])
    return gap > 2 * spread if spread > 0 else gap > 1e-9 * max(1.0, abs(stored["mean"]))


def compare(table: dict, name: str, ours: dict[str, list[dict]], stored_rows: dict) -> str:
    """Ours, the stored figure and the paper's (a column per row of the paper's table), metric
    by metric, and a verdict each."""
    paper = table.get("paper") or {}
    papers = paper.get("rows", [])
    head = f"{'row':<22} {'metric':<14} {'ours':>18} {'stored':>18}"
    head += "".join(f" {p['name'][:14]:>14}" for p in papers)
    lines = [f"{head}  verdict"]
    for row_name, runs in ours.items():
        for metric in table["metrics"]:
            mine = results.stats([r["metrics"][metric] for r in runs if metric in r["metrics"]])
            stored = stored_rows.get(row_name)
            ref = results.row_stats(stored, metric) if stored else None
            verdict = {None: "no stored figure", True: "DIFFERS beyond the stored spread",
                       False: "within the stored spread"}[differs(mine, ref)]  # fmt: skip
            published = "".join(f" {_paper_cell(p, metric):>14}" for p in papers)
            lines.append(f"{row_name:<22} {metric:<14} {results.cell(mine):>18} "
                         f"{results.cell(ref):>18}{published}  {verdict}")  # fmt: skip
    if papers:
        lines.append(f"paper: {paper['source']} ({', '.join(p['name'] for p in papers)})")
    return "\n".join(lines)


def _paper_cell(paper_row: dict, metric: str) -> str:
    value = paper_row["metrics"].get(metric)
    return "-" if value is None else results.number(value)


def machine_key(runs: list[dict]) -> str:
    first = runs[0] if runs else {}
    return f"{first.get('cpu', 'unknown CPU')} | {first.get('precision', '?')}"


def reproduce(argv: list[str]) -> int:
    args = parse(argv)
    if args.list:
        print(listing())
        return 0
    try:
        table = results.load(args.name)
    except FileNotFoundError as exc:
        raise GanError(str(exc)) from None
    if "targets" in table:
        named = sorted({part["table"] for t in table["targets"] for part in t.get("of", [])})
        raise GanError(f"{args.name}: verdicts computed from other tables; rerun those "
                       f"({', '.join(named)})")  # fmt: skip
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else table["seeds"]
    wanted = args.rows.split(",") if args.rows else [r["name"] for r in table["rows"]]
    if args.quick and not args.rows:  # the rows the quick version reruns (default: all)
        wanted = table.get("quick", {}).get("rows", wanted)
    rows = [r for r in table["rows"] if r["name"] in wanted and r.get("command")]
    if not rows:
        raise GanError(f"{args.name}: no rows to rerun among {', '.join(wanted)}")
    evals = [r for r in rows if "of" in r]  # rows measuring another row's runs
    bases = {r["of"] for r in evals}
    trained = [r for r in table["rows"] if (r in rows and "of" not in r) or r["name"] in bases]
    extra = table.get("quick", {}).get("overrides", []) if args.quick else []
    if args.quick and not extra:
        raise GanError(f"{args.name}: this table has no quick version")
    with tempfile.TemporaryDirectory(prefix=f"gan-reproduce-{args.name}-") as tmp:
        ours = run_rows(trained, seeds, extra, Path(tmp), args.jobs)
        for row in evals:
            ours[row["name"]] = eval_row(row, Path(tmp) / row["of"], seeds, Path(tmp) / row["name"])
    runs = [r for rr in ours.values() for r in rr]
    if args.quick:
        key = machine_key(runs)
        stored = {n: {"runs": rr} for n, rr in table.get("quick_runs", {}).get(key, {}).items()}
        print(f"quick version ({' '.join(extra)}), compared with quick runs stored for {key}")
    else:
        stored = {r["name"]: r for r in table["rows"]}
    print(compare(table, args.name, ours, stored))
    if args.update:  # the rows asked for (a row trained for another's sake is only compared)
        update(table, args.name, {r["name"]: ours[r["name"]] for r in rows}, args.quick)
    return 0


def update(table: dict, name: str, ours: dict[str, list[dict]], quick: bool) -> None:
    if quick:
        key = machine_key([r for rr in ours.values() for r in rr])
        table.setdefault("quick_runs", {}).setdefault(key, {}).update(ours)
    else:
        for row in table["rows"]:
            if row["name"] in ours:
                seeds = {r["seed"] for r in ours[row["name"]]}
                kept = [r for r in row.get("runs", []) if r["seed"] not in seeds]
                row["runs"] = sorted([*kept, *ours[row["name"]]], key=lambda r: r["seed"])
                row.pop("summary", None)
    results.save(name, table)
    print(f"wrote {results.folder() / name}.json (`make docs` regenerates the tables)")
