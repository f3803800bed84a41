"""Several processes, one run: `gan train device.nproc_per_node=N` starts N ranks on this
machine with torchrun's own engine (torch.distributed's elastic launcher), after Hydra has
composed the config and written its records once. Each rank runs the same loop (loop.py) with
DistributedDataParallel (runtime.py, gan.py); rank 0 writes every file.

A rank's one-line error (bad data, divergence, an interruption) comes back to this process and
ends the command the same way a single process would. At the end the launcher checks that
every rank holds the same G (DDP keeps them equal; a difference would be a bug).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid

from omegaconf import DictConfig

from gan_cli.config import TrainConfig
from gan_cli.errors import GanError, Interrupted, Stop
from gan_cli.loop import Job, run
from gan_cli.resume import latest

log = logging.getLogger(__name__)


def worker(job: Job, cfg: DictConfig, spec: TrainConfig) -> dict:
    """One rank (in a process of its own): the loop, its result or its one-line error."""
    rank = int(os.environ.get("RANK", "0"))
    _log_like_the_parent(job, rank)
    import torch.distributed as dist

    try:
        outcome = run(job, cfg, spec)
        return {"value": outcome.value, "digest": outcome.digest}
    except Interrupted as exc:
        # The launcher got the signal too and is shutting the ranks down: it waits for this
        # process to exit, not for a result. The checkpoint is saved; leave now.
        log.info("%s", exc)
        logging.shutdown()
        os._exit(exc.exit_code)
    except Stop as exc:
        return {"error": str(exc), "exit_code": exc.exit_code, "stop": True}
    except GanError as exc:
        return {"error": str(exc), "exit_code": exc.exit_code}
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _log_like_the_parent(job: Job, rank: int) -> None:
    """Rank 0 logs to stdout and the run's train.log, as a single process does; the others
    only warnings, to stderr."""
    fmt = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stdout if rank == 0 else sys.stderr)
    ]
    if rank == 0:
        handlers.append(logging.FileHandler(job.run_dir / "train.log"))
    root = logging.getLogger()
    root.handlers.clear()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)


def launch(job: Job, cfg: DictConfig, spec: TrainConfig) -> float | None:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    n = spec.device.nproc_per_node
    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)  # its chatter
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=0.5, start_method="spawn")  # fmt: skip
    log.info("starting %d ranks (torch.distributed, %s)", n,
             "nccl" if spec.device.type != "cpu" and _cuda() else "gloo")  # fmt: skip
    try:
        results = elastic_launch(config, worker)(job, cfg, spec)
    except SignalException as exc:  # SIGTERM/SIGINT here: the ranks saved and stopped
        ckpt = latest(job.run_dir / "checkpoints")
        raise Interrupted(f"interrupted by {signal.Signals(exc.sigval).name}; checkpoint "
                          f"{ckpt}; continue with: gan train resume={job.run_dir}",
                          128 + int(exc.sigval)) from None  # fmt: skip
    failed = [r for _, r in sorted(results.items()) if "error" in r]
    if failed:  # rank 0's error first: it is the one a single process would have given
        if failed[0].get("stop"):
            raise Stop(failed[0]["error"], failed[0]["exit_code"])
        raise GanError(failed[0]["error"])
    first = results[0]
    digests = {r["digest"] for r in results.values()}
    if len(digests) != 1:
        raise GanError(f"the {n} ranks ended with different generators; this is a bug")
    log.info("all %d ranks ended with identical generator weights", n)
    return first["value"]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
