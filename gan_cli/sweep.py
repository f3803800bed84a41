"""Sweeps that keep going: a failed job is recorded with its reason, the others still run,
and a one-screen summary lists every job at the end, whatever launcher ran the jobs.

`run_job` wraps a verb's task. In a single run, errors propagate (the front prints one line).
In a --multirun job it catches the failure, logs it into that job's log, and every job writes
`status.json` into its own folder (ok / failed with its one-line error / interrupted, and its
final value). The `SweepSummary` callback (conf/train.yaml, hydra.callbacks) builds the summary
and the exit code from those files when the sweep ends, in the process that launched it: the
jobs may have run in other processes (joblib) or on other machines (SLURM, submitit).

A failed job returns the worst value its sweeper can be given (Optuna: +inf when minimising,
-inf when maximising; it refuses NaN), so a search records the trial as hopeless and goes on.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from gan_cli import runfolder
from gan_cli.errors import GanError, Stop

log = logging.getLogger(__name__)
STATUS = "status.json"


@dataclass
class JobRecord:
    num: int
    overrides: str
    status: str  # one of STATUSES
    reason: str
    output_dir: str
    value: float | None = None


STATUSES = ("ok", "failed", "interrupted")
FAILED: list[JobRecord] = []  # the last sweep's failed jobs, for the exit code (this process)


def one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:  # the file first, as cli.one_line says it
        return runfolder.printable(f"{exc.filename}: {exc.strerror or exc}")
    text = str(exc).strip()
    first = runfolder.printable(text.splitlines()[0] if text else "")  # it may name a file
    return first if isinstance(exc, GanError) else f"{type(exc).__name__}: {first}"


def write_status(status: str, reason: str = "", value: Any = None) -> None:
    hydra = HydraConfig.get()
    out = Path(hydra.runtime.output_dir)
    record = {"num": hydra.job.num, "overrides": ",".join(hydra.overrides.task),
              "status": status, "reason": reason,
              "value": value if isinstance(value, int | float) else None}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    runfolder.write_text(out / STATUS, json.dumps(record) + "\n")  # a new file, never a link


def run_job(task) -> Any:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        try:
            return task()
        except GanError as exc:
            raise Stop(str(exc), exc.exit_code) from exc
        except OSError as exc:  # a file the run could not write (a folder named report.md)
            raise Stop(one_line(exc)) from exc
    try:
        value = task()
    except Stop as exc:  # an interruption: the whole sweep stops
        write_status("interrupted", str(exc))
        raise
    except Exception as exc:  # a failed job must not end the sweep
        reason = one_line(exc)
        if isinstance(exc, GanError):
            log.error("job failed: %s", reason)
        else:
            log.exception("job failed: %s", reason)  # a bug: keep the traceback in the log
        write_status("failed", reason)
        return worst_value()
    write_status("ok", value=value)
    return value


def worst_value() -> float:
    """What a failed trial tells the sweeper: a value no setting that works can lose to."""
    direction = HydraConfig.get().sweeper.get("direction", "minimize")
    if not isinstance(direction, str):  # several objectives: the first decides
        direction = list(direction)[0]
    return -math.inf if str(direction).lower().endswith("maximize") else math.inf


def read_statuses(sweep_dir: Path) -> list[JobRecord]:
    """Every job folder of a sweep; one without status.json died before it could write it."""
    records = [read_status(p.parent) for p in sweep_dir.glob("*/.hydra")]
    return sorted(records, key=lambda r: (r.num < 0, r.num, r.output_dir))


def read_status(job: Path) -> JobRecord:
    """A job's status.json, checked field by field: the sweep folder may have come from
    someone else (docs/security.md), and its files are data. Its text is shown printable."""
    show = runfolder.printable
    try:
        s = json.loads(runfolder.read_text(job / STATUS, runfolder.MAX_STATUS, "status file"))
    except FileNotFoundError:
        return _failed(job, "no status.json: the job died or never finished")
    except (OSError, ValueError, RecursionError, GanError) as exc:
        return _failed(job, f"unreadable status.json ({show(exc)})")
    s = s if isinstance(s, dict) else {}
    num, value = s.get("num"), s.get("value")
    number = runfolder.as_float(value)  # None: no value, or one that is not a number
    text = [s.get("overrides"), s.get("status"), s.get("reason", "")]
    valid = (
        isinstance(num, int)
        and not isinstance(num, bool)
        and text[1] in STATUSES
        and all(isinstance(t, str) for t in text)
        and (value is None or number is not None)
    )
    if valid:
        return JobRecord(num, *map(show, text), show(job), number)
    return _failed(job, "malformed status.json")


def _failed(job: Path, reason: str) -> JobRecord:
    return JobRecord(-1, runfolder.printable(job.name), "failed", reason, runfolder.printable(job))


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        FAILED.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        records = read_statuses(Path(config.hydra.sweep.dir))
        FAILED[:] = [r for r in records if r.status != "ok"]
        print(summary(records), flush=True)


def summary(records: list[JobRecord]) -> str:
    failed = sum(r.status != "ok" for r in records)
    lines = [f"sweep: {len(records)} jobs, {len(records) - failed} ok, {failed} failed"]
    for r in records:
        value = f"  ({r.value:.4g})" if r.value is not None and math.isfinite(r.value) else ""
        lines.append(f"  #{r.num:<3} {r.status:<6} {r.overrides}{value}")
        lines.append(
            f"        {r.output_dir}" + (f"\n        reason: {r.reason}" if r.reason else "")
        )
    return "\n".join(lines)


def failures() -> int:
    return len(FAILED)
