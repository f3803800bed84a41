"""gan-cli: config-driven GAN experiments behind one `gan` command (see README.md)."""

import time

STARTED = time.time()  # when this command started (the first import)
_clock = {"jobs": 0}


def job_started() -> float:
    """When this job's `wall_s` clock started: the command's start for its first job (start-up
    counts), now for each later job of a sweep that runs in the same process."""
    _clock["jobs"] += 1
    return STARTED if _clock["jobs"] == 1 else time.time()
