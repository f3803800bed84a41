"""Errors a user can fix. The CLI prints them as one line (no traceback) and exits non-zero.

Anything else is a bug and keeps its traceback. `HYDRA_FULL_ERROR=1` shows the traceback of
these too.
"""


class GanError(Exception):
    """Base class: a problem with the user's input, printed as `error: <message>`."""

    exit_code = 1


class ConfigError(GanError):
    """A config value that is of the right type but cannot be used."""


class DataError(GanError):
    """A data set that is missing, empty or unreadable."""


class CheckpointError(GanError):
    """A checkpoint that is missing, corrupt, unsafe or from another model."""
