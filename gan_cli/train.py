"""The `gan train` task: what Hydra composed becomes a `Job`, trained here (loop.py), or on
`device.nproc_per_node` processes started by torchrun's own engine (distributed.py), so that
Hydra composes and writes its records once."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_cli.config import TrainConfig
from gan_cli.errors import ConfigError
from gan_cli.loop import Job, run
from gan_cli.resume import NEVER_REPLAYED, override_key


def train(cfg: DictConfig, spec: TrainConfig) -> float | None:
    """`spec` is `cfg` validated (config.validate); `cfg` is kept to rebuild objects from."""
    hydra = HydraConfig.get()
    job = Job(
        run_dir=Path(hydra.runtime.output_dir),
        # what `gan train resume=` replays: the run's settings, never what only the user may say
        overrides=[
            o for o in hydra.overrides.task if override_key(o).split(".")[0] not in NEVER_REPLAYED
        ],  # fmt: skip
        choices=dict(hydra.runtime.choices),
    )
    if "optuna" in str(hydra.sweeper.get("_target_", "")) and not spec.eval.every:
        raise ConfigError("eval.every=0: the Optuna sweeper optimises the final evaluation; "
                          "turn evaluation on (eval.every=N)")  # fmt: skip
    ranks = spec.device.nproc_per_node
    if ranks > 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(f"device.nproc_per_node={ranks}: already one of several "
                              "processes (torchrun); leave it at 1 there")  # fmt: skip
        from gan_cli.distributed import launch

        return launch(job, cfg, spec)
    outcome = run(job, cfg, spec)
    return outcome.value
