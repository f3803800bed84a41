"""Sweeps that keep going: a failed job is recorded with its reason, the others still run,
and a one-screen summary lists every job at the end.

`run_job` wraps a verb's task. In a single run, errors propagate (the front prints one line).
In a --multirun job it catches the failure, logs it into that job's log and returns a
`JobFailed`, so Hydra's sweeper goes on; the `SweepSummary` callback (registered in
conf/train.yaml under hydra.callbacks) collects each job's status and prints the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from gan_cli.errors import GanError, Stop

log = logging.getLogger(__name__)


@dataclass
class JobFailed:
    reason: str


@dataclass
class JobRecord:
    num: int
    overrides: str
    status: str  # "ok" | "failed"
    reason: str
    output_dir: str


RESULTS: list[JobRecord] = []  # this process's sweep, filled by SweepSummary


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(exc, GanError) else f"{type(exc).__name__}: {first}"


def run_job(task) -> Any:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        try:
            return task()
        except GanError as exc:
            raise Stop(str(exc), exc.exit_code) from exc
    try:
        return task()
    except Exception as exc:  # a failed job must not end the sweep
        reason = one_line(exc)
        if isinstance(exc, GanError):
            log.error("job failed: %s", reason)
        else:
            log.exception("job failed: %s", reason)  # a bug: keep the traceback in the log
        return JobFailed(reason)


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        RESULTS.clear()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra = config.hydra
        if hydra.mode != RunMode.MULTIRUN:
            return
        if job_return.status == JobStatus.FAILED:  # raised past run_job: still recorded
            status, reason = "failed", one_line(job_return._return_value)
        elif isinstance(job_return.return_value, JobFailed):
            status, reason = "failed", job_return.return_value.reason
        else:
            status, reason = "ok", ""
        RESULTS.append(
            JobRecord(
                hydra.job.num,
                ",".join(job_return.overrides or []),
                status,
                reason,
                hydra.runtime.output_dir,
            )  # fmt: skip
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print(summary(), flush=True)


def summary() -> str:
    failed = sum(r.status == "failed" for r in RESULTS)
    lines = [f"sweep: {len(RESULTS)} jobs, {len(RESULTS) - failed} ok, {failed} failed"]
    for r in RESULTS:
        lines.append(f"  #{r.num:<3} {r.status:<6} {r.overrides}")
        lines.append(
            f"        {r.output_dir}" + (f"\n        reason: {r.reason}" if r.reason else "")
        )
    return "\n".join(lines)


def failures() -> int:
    return sum(r.status == "failed" for r in RESULTS)
