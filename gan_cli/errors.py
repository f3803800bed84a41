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


class Stop(BaseException):
    """Ends the whole command with `message` and `exit_code`.

    A BaseException, like KeyboardInterrupt, so that Hydra passes it through untouched (no
    "Error executing job" banner, no sweep going on with the next job).
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(Stop):
    """SIGTERM or Ctrl-C: a checkpoint was saved and the run stops."""
