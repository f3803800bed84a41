"""SIGTERM, SIGUSR2 and Ctrl-C become a request to stop at the next step boundary.

Clusters pre-empt jobs with SIGTERM (SLURM) or SIGUSR2 (submitit's warning before the time
limit); the loop checks `requested` after each step (with several ranks: at the next log step,
all together), saves a checkpoint and stops cleanly; the same command, rerun (a requeued job in
the same folder), resumes. A second signal stops at once (the checkpoint on disk is whole:
writes are atomic).
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # the second signal: stop now
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
