"""Published figures as data: one JSON file per table under docs/results/, and the markdown
tables of README.md and docs/ generated from them (`make docs`; tests/test_docs.py fails when a
table and its file disagree). `gan reproduce` reruns a table from its file (reproduce.py).

A results file (docs/results/NAME.json):
    title, description      what the table shows
    metrics                 its columns, in order
    seeds                   the seeds each row is run with
    minutes_per_run         what one run takes on the machine that measured it (for --list)
    quick                   {"overrides": [...], "minutes_per_run": m}: the short version
    paper                   {"source": ..., "rows": [{"name", "metrics"}]}: published figures
    rows                    [{"name", "command", "runs": [RUN, ...], "summary": {...}}]; a row
                            with "of": ROW measures ROW's runs (`gan eval ckpt=RUN ...`)
    quick_runs              {"<cpu kind> | <precision>": {row name: [RUN, ...]}}
A RUN: {"seed", "metrics", "wall_s", "cpu_s", "cpu", "precision", "git", "date"}; a field a run
never recorded is absent, never guessed. `summary` ({metric: {"mean", "std", "n"}}) holds
figures published before their runs were kept one by one; a row has runs or a summary.

In markdown, a generated table sits between `<!-- results: NAME -->` and `<!-- /results -->`.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
from pathlib import Path

from gan_cli import runfolder

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def folder() -> Path:
    """Where the results files are: docs/results/, or $GAN_CLI_RESULTS (your own tables)."""
    return Path(os.environ.get("GAN_CLI_RESULTS") or RESULTS)


BLOCK = re.compile(r"(<!-- results: ([\w-]+) -->\n)(.*?)(<!-- /results -->)", re.S)
LOWER_IS_BETTER = {"fid", "kid", "reverse_kl", "mode_kl", "mode_kl_b", "class_kl", "intra_fid"}


def load(name: str) -> dict:
    path = folder() / f"{name}.json"
    if not path.is_file():
        known = ", ".join(names())
        raise FileNotFoundError(f"no results file {path}; known: {known}")
    return load_file(path)


def load_file(path: Path) -> dict:
    return json.loads(path.read_text(), object_hook=_numbers)


def save(name: str, table: dict) -> None:
    """Strict JSON (a non-finite figure, which JSON has no number for, is the string "nan",
    "inf" or "-inf"), written as a new file renamed into place."""
    text = json.dumps(_strict(table), indent=1, allow_nan=False) + "\n"
    runfolder.write_text(folder() / f"{name}.json", text)


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _strict(node):
    if isinstance(node, float) and not math.isfinite(node):
        return str(node)
    if isinstance(node, dict):
        return {k: _strict(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def _numbers(node: dict) -> dict:
    """Back from strict JSON: "nan", "inf" and "-inf" are numbers again."""
    return {k: NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in node.items()}


def names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.json"))


def stats(values: list[float]) -> dict:
    """Mean, sample std (0 for one value) and count; non-finite values make both non-finite."""
    if not values:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    if not all(math.isfinite(v) for v in values):
        return {"mean": sum(values) / len(values), "std": math.nan, "n": len(values)}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values)}


def row_stats(row: dict, metric: str) -> dict | None:
    """A row's figure for `metric`: from its runs, else its summary ({"mean", "std", "n"}, or
    {"text"} for a figure published as a range); None if never measured."""
    runs = [r["metrics"][metric] for r in row.get("runs", []) if metric in r.get("metrics", {})]
    if runs:
        return stats(runs)
    return row.get("summary", {}).get(metric)


def number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) >= 1:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.4g}"


def cell(figure: dict | None) -> str:
    """mean ± std (2 significant digits) over a row's seeds; the mean alone for one run."""
    if figure is None:
        return ""
    if "text" in figure:
        return figure["text"]
    if figure["n"] <= 1 or not math.isfinite(figure["std"]):
        return number(figure["mean"])
    std = figure["std"]
    return (
        f"{number(figure['mean'])} ± {std:,.0f}"
        if std >= 10
        else f"{number(figure['mean'])} ± {std:.2g}"
    )


def markdown(table: dict) -> str:
    """The table as markdown: a line per row (mean ± std over its seeds), then the paper's;
    time columns where runs recorded them, a verdict column where rows have one. A file of
    targets (`targets`) is a table of verdicts instead (targets_markdown)."""
    if "targets" in table:
        return targets_markdown(table)
    metrics, rows = table["metrics"], table["rows"]
    timed = any(r.get(k) is not None for row in rows for r in row.get("runs", [])
                for k in ("wall_s", "cpu_s"))  # fmt: skip
    verdicts = any("verdict" in row for row in rows)
    head = ["run", *metrics, "seeds", *(["wall s", "CPU s"] if timed else []),
            *(["verdict"] if verdicts else [])]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        runs = row.get("runs", [])
        summary_n = next((f.get("n", "") for f in row.get("summary", {}).values()), "")
        seeds_shown = _seeds([r["seed"] for r in runs]) if runs else str(summary_n)
        name = f"{row['name']}: `{row['command']}`" if row.get("command") else row["name"]
        name += f" (RUN: the runs of {row['of']})" if "of" in row else ""
        cells = [name, *(cell(row_stats(row, m)) for m in metrics), seeds_shown]
        if timed:
            times = [[r[k] for r in runs if r.get(k) is not None] for k in ("wall_s", "cpu_s")]
            cells += [cell(stats(t)) if t else "" for t in times]
        if verdicts:
            cells.append(row.get("verdict", ""))
        lines.append("| " + " | ".join(cells) + " |")
    paper = table.get("paper")
    for prow in paper.get("rows", []) if paper else []:
        cells = [
            f"{prow['name']} ({paper['source']})",
            *(number(prow["metrics"][m]) if m in prow["metrics"] else "" for m in metrics),
        ]
        cells += [""] * (len(head) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


OPS = {"<=": (lambda v, b: v <= b, "≤"), ">=": (lambda v, b: v >= b, "≥")}


def targets_markdown(table: dict) -> str:
    """A line per target: its bounds, and the verdict computed from every run (each seed of each
    row) of the tables it names: met, with the worst value of each metric and where it was; or
    missed, with each run that misses. A target measured outside the tables (`measured`) shows
    its recorded text."""
    lines = ["| command | target | result | time a run |", "| --- | --- | --- | --- |"]
    for target in table["targets"]:
        bounds = target.get("bounds", {})
        wanted = target.get("target") or ", ".join(f"{m} {OPS[op][1]} {number(b)}"
                                                   for m, (op, b) in bounds.items())  # fmt: skip
        result = target.get("measured") or verdict(target, bounds)
        if target.get("note"):
            result += f" ({target['note']})"
        lines.append(f"| `{target['command']}` | {wanted} | {result} | {target.get('time', '')} |")
    return "\n".join(lines) + "\n"


def verdict(target: dict, bounds: dict) -> str:
    runs = [(row["name"], run) for part in target["of"] for row in load(part["table"])["rows"]
            if part["rows"] is None or row["name"] in part["rows"]
            for run in row.get("runs", [])]  # fmt: skip
    if not runs:
        return "not measured"
    missed, worst = [], []
    for metric, (op, bound) in bounds.items():
        check, sign = OPS[op]
        seen = [(run["metrics"][metric], name, run["seed"]) for name, run in runs
                if metric in run["metrics"]]  # fmt: skip
        if len(seen) < len(runs):
            missed.append(f"{metric} not measured in {len(runs) - len(seen)} runs")
        missed += [f"{metric} {number(v)} (not {sign} {number(bound)}: {name}, seed {seed})"
                   for v, name, seed in seen if not check(v, bound)]  # fmt: skip
        if seen:
            v, name, seed = (max if op == "<=" else min)(seen)
            where = f"{name}, seed {seed}" if len({n for n, _ in runs}) > 1 else f"seed {seed}"
            worst.append(f"{metric} {number(v)} ({where})")
    if missed:
        return "**missed**: " + "; ".join(missed)
    return f"**met** by each of {len(runs)} runs; the worst: " + ", ".join(worst)


def _seeds(seeds: list[int]) -> str:
    seeds = sorted(seeds)
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def render(text: str) -> str:
    """`text` with every results block regenerated from its file."""
    return BLOCK.sub(lambda m: m[1] + markdown(load(m[2])) + m[4], text)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def stale() -> list[str]:
    """The documents whose generated tables differ from their results files."""
    return [str(p.relative_to(ROOT)) for p in documents() if render(p.read_text()) != p.read_text()]


def main(argv: list[str]) -> int:
    """`python -m gan_cli.results --write` (what `make docs` runs) or `--check`."""
    if argv[:1] == ["--write"]:
        for path in documents():
            text = path.read_text()
            if render(text) != text:
                path.write_text(render(text))
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    out = stale()
    for path in out:
        print(f"{path}: a generated table differs from docs/results/ (run `make docs`)")
    return 1 if out else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
