"""A pre-started `gan` for the tests: a server process imports what the `gan` command imports
(torch alone takes ~4 s on a 2-core machine: most of a short command's time), then forks one
child per command. Each child is a process of its own that runs the installed command's entry
point, `gan_cli.cli:main`, in its own working directory, with its own environment, argv,
stdin, stdout and stderr, and leaves through the interpreter's normal exit (atexit handlers,
thread joins, a traceback and status 1 for an uncaught exception, death by a signal). Only
the start-up is shared: what start-up alone decides (PYTHON* and OpenMP variables) cannot
differ from the server's, so commands that change those run as a real `gan` process
(conftest.run_gan decides); a PYTHONPATH goes onto the child's import path where start-up
would put it. The server itself never runs a tensor operation: a fork
after OpenMP has started its threads is not safe.

Protocol, one JSON line each way on the server's stdin and stdout:
  {"op": "spawn", "argv": [...], "cwd": dir, "env": {...}, "stdout": file, "stderr": file}
      -> {"pid": n}
  {"op": "wait", "pid": n, "timeout": seconds or null} -> {"status": returncode or null}
A returncode is Popen's: the exit status, or minus the signal that ended the child.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
# Read only while a process starts (by the interpreter, OpenMP, MKL, the loader): a command
# whose environment sets one of these otherwise than the server's runs as a real process.
STARTUP_VARIABLES = ("PYTHON", "OMP_", "MKL_", "KMP_", "GOMP_", "LD_")


def preload() -> None:
    """What `gan train`, `gan sample` and `gan eval` import, up to their first tensor; and the
    parts of torchvision that image runs import on first use (grids, resizing: ~2.7 s of CPU a
    command on a 2-core machine, and most test commands train on images). A 2-D command
    forked from here finds torchvision loaded where a real `gan` would not; it never uses it
    (test_cli checks what the real commands import)."""
    import torch.utils.tensorboard  # noqa: F401
    import torchvision.transforms.v2.functional  # noqa: F401
    import torchvision.utils  # noqa: F401

    import gan_cli.cli  # noqa: F401
    import gan_cli.eval  # noqa: F401
    import gan_cli.sample  # noqa: F401
    import gan_cli.train  # noqa: F401


def become_command(request: dict, streams: list[int]) -> None:
    """In the forked child: become `gan ARGS` as its console script starts it."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, opened in enumerate(streams):  # stdin, stdout, stderr
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = list(request["argv"])
    # the import path a console script starts with: its own folder, then PYTHONPATH's entries
    # (absolute, as site.py makes them), then the server's (stdlib, site-packages)
    extra = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:1] = [os.path.dirname(sys.argv[0]), *extra]
    from gan_cli.cli import main

    main()


def wait(pid: int, timeout: float | None) -> int | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def serve() -> None:
    preload()
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            # opened before the fork: the files exist when the tests get the pid
            streams = [os.open(os.devnull, os.O_RDONLY), os.open(request["stdout"], WRITE, 0o644),
                       os.open(request["stderr"], WRITE, 0o644)]  # fmt: skip
            pid = os.fork()
            if pid == 0:
                become_command(request, streams)
                raise SystemExit(0)  # main() returned: the command succeeded
            for opened in streams:
                os.close(opened)
            reply = {"pid": pid}
        else:
            reply = {"status": wait(request["pid"], request["timeout"])}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class Child:
    """A forked command, with what the tests use of `subprocess.Popen`."""

    def __init__(self, server: Server, pid: int, stdout: Path, stderr: Path) -> None:
        self.server, self.pid, self.returncode = server, pid, None
        self.stdout_path, self.stderr_path = stdout, stderr
        self.stderr = open(stderr)  # noqa: SIM115 (read as a pipe would be, closed in communicate())

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.ask(op="wait", pid=self.pid, timeout=0)["status"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            status = self.server.ask(op="wait", pid=self.pid, timeout=timeout)["status"]
            if status is None:
                raise subprocess.TimeoutExpired(self.pid, timeout)
            self.returncode = status
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # never a pid the system may have given to another
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end, then (stdout, stderr), as Popen's with both piped."""
        self.wait(timeout)
        self.stderr.close()
        return self.stdout_path.read_text(), self.stderr_path.read_text()


class Server:
    """The tests' side: one server per test process, started on first use."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.spawned = 0
        self.files = Path(tempfile.mkdtemp(prefix="gan-prefork-"))
        atexit.register(self.close)

    def serves(self, env: dict[str, str], base: dict[str, str]) -> bool:
        """Whether a command with `env` can be forked from a server started with `base`."""
        base = self.env if self.process else base
        changed = {k for k in env.keys() | base.keys() if env.get(k) != base.get(k)}
        if not base.get("PYTHONPATH"):  # the child puts a PYTHONPATH on its path as start-up does
            changed.discard("PYTHONPATH")
        return not any(k.startswith(STARTUP_VARIABLES) for k in changed)

    def ask(self, **request) -> dict:
        assert self.process and self.process.poll() is None, "the prefork server died"
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> Child:
        if self.process is None or self.process.poll() is not None:
            self.env = env
            self.process = subprocess.Popen(
                [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, env=env, cwd=self.files,
            )  # fmt: skip
        self.spawned += 1
        out, err = (self.files / f"{self.spawned}.{name}" for name in ("out", "err"))
        pid = self.ask(op="spawn", argv=argv, cwd=str(cwd), env=env, stdout=str(out),
                       stderr=str(err))["pid"]  # fmt: skip
        return Child(self, pid, out, err)

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        shutil.rmtree(self.files, ignore_errors=True)


if __name__ == "__main__":
    serve()
