"""`gan report PATH ...`: one table of a sweep (or of several runs), grouped by the settings
that differ between them, with mean ± std over the seeds of each group.

Each run's numbers are its final evaluation (the last `Metrics/*` row of metrics.jsonl: the
protocol of `gan eval`, see metrics/evaluate.py) and its wall time (`wall_s`: seconds of
`gan train` from the start of the command, start-up and evaluations included). A run's
settings are its overrides (`.hydra/overrides.yaml`); `seed` never forms a group. The table is
printed and written as report.md in the sweep folder (or in `out`).
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from gan_cli import runfolder
from gan_cli.errors import GanError
from gan_cli.eval import mean_std as stats
from gan_cli.runfolder import MAX_METRICS, MAX_OVERRIDES, as_float, printable

log = logging.getLogger(__name__)
GROUPLESS = ("seed", "hydra.run.dir", "hydra.sweep.dir", "resume")


@dataclass
class Run:
    path: Path
    settings: dict[str, str]  # override key -> value, as given
    metrics: dict[str, float]  # the final evaluation
    wall_s: float | None
    curves: dict[str, list[tuple[int, float]]]  # every evaluation: metric -> (step, value)


MAX_ROW_KEYS = 1_000  # values in one metrics.jsonl row (a run logs a few dozen)
MAX_SHOWN = 64  # metrics of one evaluation: a column and a plot each (gan eval makes < 20)
MAX_TOTAL = 512 << 20  # bytes of metrics.jsonl over all the runs of one report


def find_runs(paths: list[Path]) -> list[Run]:
    runs, files = [], []
    for root in paths:
        if not root.exists():
            raise GanError(f"path={root}: no such file or folder")
        runfolder.check_tree(root)  # no links anywhere below: nothing read or written through one
        files += [root / "metrics.jsonl"] if (root / "metrics.jsonl").is_file() else []
        files += sorted(root.glob("*/metrics.jsonl"))
    total = sum(f.lstat().st_size for f in files)
    if total > MAX_TOTAL:
        raise GanError(f"path={printable(', '.join(map(str, paths)))}: {total:,} bytes of "
                       f"metrics.jsonl in {len(files)} runs, more than one report reads "
                       f"({MAX_TOTAL:,}); refused")  # fmt: skip
    runs = [r for r in (read_run(f.parent) for f in files) if r is not None]
    if not runs:
        raise GanError(f"path={', '.join(map(str, paths))}: no runs with evaluations found there")
    return runs


def read_rows(file: Path) -> Iterator[dict]:
    """The rows of a run's metrics.jsonl, a line at a time, each checked: an object with a
    whole-number step and numbers for values. A last row cut short by a kill is left out;
    anything else malformed is one line naming the file and the line."""
    cut_short = None  # a row that does not parse: forgiven only if it is the last
    with runfolder.open_read(file, MAX_METRICS, "metrics file") as lines:
        for number, line in enumerate(lines, 1):
            if cut_short is not None:
                raise cut_short
            try:
                row = json.loads(line)
            except UnicodeDecodeError:
                raise GanError(f"{file}:{number}: not UTF-8 text") from None
            except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
                cut_short = GanError(f"{file}:{number}: not a JSON row")
                continue
            yield check_row(row, f"{file}:{number}")


def check_row(row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise GanError(f"{where}: a row that is not an object")
    if len(row) > MAX_ROW_KEYS:
        raise GanError(f"{where}: {len(row):,} values in one row, more than a run logs "
                       f"({MAX_ROW_KEYS:,}); refused")  # fmt: skip
    step = row.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2**63:
        raise GanError(f"{where}: a row without a whole-number step")
    # as floats: an integer of 400 digits is JSON, but no float (OverflowError later)
    values = {k: as_float(v) for k, v in row.items() if k != "step"}
    bad = next((k for k, v in values.items() if v is None), None)
    if bad is not None:
        raise GanError(f"{where}: {printable(bad)[:60]!r} is not a number (or is too large "
                       "for a float)")  # fmt: skip
    return {"step": step, **values}


def read_overrides(path: Path) -> dict[str, str]:
    """A run's settings from .hydra/overrides.yaml: a list of `key=value` strings (no file: no
    settings)."""
    file = path / ".hydra" / "overrides.yaml"
    if not file.exists():
        return {}
    try:
        listed = yaml.safe_load(runfolder.read_text(file, MAX_OVERRIDES, "overrides file"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f":{where.line + 1}" if where is not None else ""
        raise GanError(f"{file}{at}: not valid YAML") from None
    except RecursionError:  # lists nested thousands deep: no list of overrides
        raise GanError(f"{file}: nested too deeply; not a list of key=value strings") from None
    listed = listed or []
    if not isinstance(listed, list) or not all(isinstance(o, str) for o in listed):
        raise GanError(f"{file}: not a list of key=value strings")
    settings = dict(o.lstrip("+~").split("=", 1) for o in listed if "=" in o)
    added = settings.pop("stabilizers@stabilizers", None)  # as typed: `stabilizers=[auto,x]`
    if added is not None:  # (argv.py wrote it as Hydra's group append)
        names = ["auto", *filter(None, added.strip("[]").split(","))]
        settings["stabilizers"] = f"[{','.join(names)}]"
    return settings


def read_run(path: Path) -> Run | None:
    evaluated, last = [], None  # only the evaluations and the last row are kept
    for last in read_rows(path / "metrics.jsonl"):
        if any(k.startswith("Metrics/") for k in last):
            evaluated.append(last)
    if not evaluated:
        log.warning("%s: no evaluation in metrics.jsonl; left out", printable(str(path)))
        return None
    final = evaluated[-1]
    settings = read_overrides(path)
    metrics = {k.removeprefix("Metrics/"): v for k, v in final.items() if k.startswith("Metrics/")}
    if len(metrics) > MAX_SHOWN:
        raise GanError(f"{printable(str(path))}: {len(metrics):,} metrics in one evaluation, "
                       f"more than a report shows ({MAX_SHOWN}); refused")  # fmt: skip
    curves = {m: [(r["step"], r[f"Metrics/{m}"]) for r in evaluated if f"Metrics/{m}" in r]
              for m in metrics}  # fmt: skip
    return Run(path, settings, metrics, last.get("wall_s"), curves)


def group(runs: list[Run]) -> tuple[list[str], dict[tuple, list[Run]]]:
    """(the setting keys that differ between runs, runs by their values of those keys)."""
    keys = sorted({k for r in runs for k in r.settings if k not in GROUPLESS})
    differing = [k for k in keys if len({r.settings.get(k) for r in runs}) > 1]
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault(tuple(r.settings.get(k, "-") for k in differing), []).append(r)
    return differing, groups


def short(value: str) -> str:
    """A setting as the table shows it: numbers to 4 significant digits."""
    try:
        return f"{float(value):.4g}" if any(c in value for c in ".e") else cell(value)
    except ValueError:
        return cell(value)


MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|])")


def cell(text: str) -> str:
    """Text from a run folder as it may reach report.md: control characters shown as escapes
    (`printable`, as for the terminal), HTML escaped, markdown's special characters
    backslash-escaped (a `|` cannot break the table)."""
    escaped = html.escape(printable(text), quote=True)
    return MARKDOWN.sub(r"\\\1", escaped)


def file_name(metric: str) -> str:
    """A metric's name as part of a file name: letters, digits, `_`, `-` and `.` only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", metric).strip(".") or "metric"


def mean_std(values: list[float]) -> str:
    mean, std = stats(values)
    return f"{mean:.4g}" if len(values) == 1 else f"{mean:.4g} ± {std:.2g}"


def markdown(runs: list[Run], metrics: list[str] | None = None) -> str:
    differing, groups = group(runs)
    names = [m for m in runs[0].metrics if all(m in r.metrics for r in runs)]
    if metrics:
        missing = [m for m in metrics if m not in names]
        if missing:
            raise GanError(f"metrics={','.join(missing)}: not measured in every run; "
                           f"choose from {', '.join(names)}")  # fmt: skip
        names = list(metrics)
    head = ["#", *map(cell, differing or ["runs"]), "seeds", *map(cell, names), "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for number, (values, members) in enumerate(groups.items(), 1):
        cells = [str(number), *(map(short, values) if differing else [str(len(members))])]
        cells.append(str(len(members)))
        cells += [mean_std([r.metrics[m] for r in members]) for m in names]
        walls = [r.wall_s for r in members if r.wall_s is not None]
        cells.append(mean_std(walls) if walls else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report(_, cfg) -> str:
    paths = [Path(p).expanduser() for p in ([cfg.path] if isinstance(cfg.path, str)
                                            else cfg.path)]  # fmt: skip
    runs = find_runs(paths)
    text = markdown(runs, cfg.metrics)
    out = Path(cfg.out).expanduser() if cfg.out else (paths[0] if paths[0].is_dir() else Path("."))
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# {cell(cfg.title or 'gan report')}\n\n{len(runs)} runs: the final evaluation of "
              "each (mean ± std over seeds), wall time of `gan train`.\n\n")  # fmt: skip
    names = cfg.metrics or [m for m in runs[0].metrics if all(m in r.metrics for r in runs)]
    pictures = plots(runs, group(runs), names, out)
    figures = "".join(f"\n![{p.stem}]({p.name})\n" for p in pictures)
    runfolder.write_text(out / "report.md", header + text + figures, root=out)
    print(text, end="")
    print(f"wrote {printable(str(out / 'report.md'))}"
          + (f" and {len(pictures)} plots" if pictures else ""))  # fmt: skip
    return text


def plots(runs: list[Run], grouped: tuple, names: list[str], out: Path) -> list[Path]:
    """Per metric: its value against steps, a line per group (the mean over seeds, a band from
    the lowest to the highest seed), and its final value per group. PNGs beside report.md."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("no plots: matplotlib is not installed (pip install 'gan-cli[report]')")
        return []
    keys, groups = grouped
    label = {values: f"#{i}" for i, values in enumerate(groups, 1)}  # as in the table
    written, taken = [], set()
    for metric in names:
        fig, (curve, final) = plt.subplots(1, 2, figsize=(12, 4.5))
        for values, members in groups.items():
            steps = sorted(set.intersection(*(set(s for s, _ in r.curves[metric])
                                              for r in members)))  # fmt: skip
            if not steps:
                continue
            table = [[dict(r.curves[metric])[s] for s in steps] for r in members]
            mean = [stats(list(col))[0] for col in zip(*table, strict=True)]
            line = curve.plot(steps, mean, marker="o", markersize=3, label=label[values])[0]
            curve.fill_between(steps, [min(c) for c in zip(*table, strict=True)],
                               [max(c) for c in zip(*table, strict=True)],
                               color=line.get_color(), alpha=0.2)  # fmt: skip
        shown_name = printable(metric).replace("$", r"\$")  # no mathtext from a run folder
        curve.set(xlabel="step", ylabel=shown_name, title=f"{shown_name} during training")
        curve.legend(fontsize=8, ncol=2)
        finals = [stats([r.metrics[metric] for r in members]) for members in groups.values()]
        shown = [(i, m, s) for i, (m, s) in enumerate(finals) if math.isfinite(m)]
        final.bar(
            [i for i, _, _ in shown],
            [m for _, m, _ in shown],
            yerr=[s if math.isfinite(s) else 0 for _, _, s in shown],
            capsize=3,
        )
        final.set_xticks(range(len(finals)), [label[v] for v in groups])
        final.set(ylabel=shown_name, title=f"final {shown_name} (mean ± std over seeds)")
        fig.tight_layout()
        stem, n = file_name(metric), 1
        while stem in taken:  # two names may map to one (`a b`, `a_b`): each its own file
            n += 1
            stem = f"{file_name(metric)}_{n}"
        taken.add(stem)
        path = out / f"report_{stem}.png"
        png = io.BytesIO()
        fig.savefig(png, dpi=100, format="png")
        plt.close(fig)
        runfolder.write_bytes(path, png.getvalue(), root=out)
        written.append(path)
    return written
