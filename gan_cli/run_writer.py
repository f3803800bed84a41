"""What a run writes besides checkpoints: TensorBoard events, metrics.jsonl and sample PNGs.

Everything lands in the run directory Hydra made (next to `.hydra/`), so `tensorboard --logdir
outputs` shows each run, and each job of a sweep, under its own name. Only the main process
writes; elsewhere every method does nothing.
"""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from gan_cli.runfolder import filter_lines, open_append
from gan_cli.samples import save_png

MAX_METRICS = 1 << 30  # bytes of metrics.jsonl read back (a million logged steps: ~300 MB)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"optim": {"lr": 1}} -> {"optim.lr": 1}, with values TensorBoard's HParams tab accepts."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, Enum):
            flat[name] = value.value
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def _truncate_jsonl(path: Path, last_step: int, root: Path) -> None:
    """Keep the rows up to `last_step`; rows that are not ours (cut short by a kill, or
    malformed, or nested too deep to parse) are dropped, never a traceback."""
    if not path.exists():
        return

    def logged_by_then(line: bytes) -> bool:
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            return False
        return type(step) is int and step <= last_step

    filter_lines(path, logged_by_then, MAX_METRICS, "metrics file", root)


class RunWriter:
    def __init__(self, run_dir: Path, enabled: bool = True, resume_step: int = 0,
                 started: float | None = None, wall_offset: float = 0.0,
                 cpu_offset: float = 0.0):  # fmt: skip
        """`resume_step`: the step of the checkpoint this run continues from (0: a new run).
        Whatever the interrupted run logged after it is dropped, so each step appears once.
        `started`: when this command started (time.time()); `wall_offset`: the seconds the run
        had trained before this command (a resumed run). Rows carry `wall_s`, their sum, and
        `cpu_s`: this process's CPU seconds (all threads) since the writer was made, plus
        `cpu_offset`, those of the commands before."""
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.started = time.time() if started is None else started
        self.wall_offset = wall_offset
        self.cpu_offset, self.cpu_started = cpu_offset, time.process_time()
        self.samples_dir = self.run_dir / "samples"
        self._tb: SummaryWriter | None = None
        if enabled:
            self.samples_dir.mkdir(parents=True, exist_ok=True)
            # purge_step: TensorBoard discards earlier events from this step on
            purge = resume_step + 1 if resume_step else None
            self._tb = SummaryWriter(str(self.run_dir), purge_step=purge)
            jsonl = self.run_dir / "metrics.jsonl"
            if resume_step:
                _truncate_jsonl(jsonl, resume_step, self.run_dir)
            self._jsonl = open_append(jsonl, self.run_dir)

    def hparams(self, config: dict, metrics: list[str]) -> None:
        """The run's hyper-parameters in the HParams tab, linked to the scalars `metrics`.

        Written straight into this run's event file: `SummaryWriter.add_hparams` would open a
        second, timestamped run for them, which then shows up as a stray run in TensorBoard.
        """
        if not self._tb:
            return
        exp, ssi, sei = hparams(flatten(config), {m: None for m in metrics})
        writer = self._tb._get_file_writer()
        for summary in (exp, ssi, sei):
            writer.add_summary(summary)

    def provenance(self, step: int, info: dict) -> None:
        """One row per start of this run (a resumed run may continue on another machine):
        the step it started from and what it ran on (gan-cli, git commit, torch, device)."""
        if not self._tb:
            return
        row = {"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
        with open_append(self.run_dir / "provenance.jsonl", self.run_dir) as f:
            f.write(json.dumps(row) + "\n")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self._tb:
            return
        for tag, value in values.items():
            self._tb.add_scalar(tag, value, step)
        row = {"step": step, "time": round(time.time(), 3), "wall_s": round(self.wall_s, 2),
               "cpu_s": round(self.cpu_s, 2),
               **values}  # fmt: skip
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()

    @property
    def cpu_s(self) -> float:
        """CPU seconds of this run's training so far (its set-up and evaluations included)."""
        return self.cpu_offset + time.process_time() - self.cpu_started

    @property
    def wall_s(self) -> float:
        """Seconds of `gan train` so far, start-up included, across resumes."""
        return self.wall_offset + time.time() - self.started

    def picture(self, step: int, tag: str, image: Tensor) -> Path | None:
        """uint8 (C, H, W) -> TensorBoard image and samples/<tag>_<step>.png."""
        if not self._tb:
            return None
        self._tb.add_image(tag, image, step)
        path = self.samples_dir / f"{tag}_{step:07d}.png"
        save_png(image, path, root=self.run_dir)
        return path

    def flush(self) -> None:
        if self._tb:
            self._tb.flush()

    def close(self) -> None:
        if self._tb:
            self._tb.close()
            self._jsonl.close()
