"""Where gan-cli keeps what it computes once per machine: reference statistics, decoded image
folders, the channels-last probe. $GAN_CLI_CACHE, else ~/.cache/gan-cli."""

from __future__ import annotations

import os

CACHE_ENV, CACHE_DEFAULT = "GAN_CLI_CACHE", "~/.cache/gan-cli"
# the schemas' default: OmegaConf resolves it while composing our own configs (never in a
# stored config, docs/security.md), so `--cfg job` shows where the cache goes and why
CACHE_DIR = f"${{oc.env:{CACHE_ENV},'{CACHE_DEFAULT}'}}"


def cache_dir() -> str:
    """The folder for a caller from Python, which composes nothing."""
    return os.environ.get(CACHE_ENV, CACHE_DEFAULT)
