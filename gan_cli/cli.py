"""`gan VERB [overrides]`: a thin front over one Hydra app per verb.

Hydra has no subcommands, so `main()` takes the verb off argv and hands the rest to that verb's
Hydra app, which then has everything a Hydra app has (overrides, --multirun, --cfg job, --help,
hydra.run.dir=...). Nothing here imports torch: `gan --help` and `gan train --cfg job` stay fast;
the verbs import their heavy modules only when they run.

Errors a user can fix (a bad override, a missing folder, a corrupt checkpoint) are printed as
one `error: ...` line with a non-zero exit; `HYDRA_FULL_ERROR=1` shows the full traceback.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_cli import (
    config,
    plugins,
    registry,
    runfolder,
    schemas,  # noqa: F401 - imported to find and register every schema
    sweep,
)
from gan_cli.argv import (
    added_stabilizers,
    flags_first,
    positional_paths,
    quote_paths,
    torchrun_argv,
)
from gan_cli.errors import GanError, Stop
from gan_cli.plugins import config_dir
from gan_cli.runfolder import printable

MADE_HERE: set[Path] = set()  # folders unique_dir created in this process


def unique_dir(base: str) -> str:
    """`base`, or `base_2`, `base_3`, ... : the first that this process could create itself.

    Hydra names run folders by the second they start in, so two runs started in the same
    second would share one and overwrite each other's files. Creating the folder here, with
    `mkdir` failing when it exists, makes each new run's folder its own. Cached (as Hydra's
    `now`), so every use in one run, and every job of a sweep, gets the same answer. Every
    folder made here is noted in MADE_HERE: only those may a refused run remove again."""
    parent = Path(os.path.abspath(base)).parent  # as Hydra makes output_dir absolute
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    MADE_HERE.update(missing)
    for n in range(1, 10_000):
        path = base if n == 1 else f"{base}_{n}"
        try:
            os.mkdir(path)
            MADE_HERE.add(Path(os.path.abspath(path)))
            return path
        except FileExistsError:
            continue
    raise OSError(f"{base}: 10,000 runs started in the same second")


OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True, replace=True)


def hydra_app(config_name: str, task: str, precheck=None):
    """The Hydra app of a verb: compose `conf/<config_name>.yaml`, validate it, run
    `precheck(cfg)` if given, then import and run `task` ("module:function", called with the
    config and its validated form). Heavy imports (torch) happen only here, after composition."""

    @hydra.main(config_path=config_dir(), config_name=config_name, version_base="1.3")
    def app(cfg: DictConfig):
        def run():
            try:
                spec = config.validate(cfg, _choices())  # bad values fail before torch loads
                plugins.trust_from_user(getattr(spec, "trust", None))  # trust only from the user
                if precheck is not None:
                    precheck(cfg)
            except GanError:
                discard_unstarted_run()
                raise
            module, function = task.split(":")
            return getattr(importlib.import_module(module), function)(cfg, spec)

        return sweep.run_job(run)

    return app


def discard_unstarted_run() -> None:
    """A single run refused by its config leaves no folder behind (a sweep's jobs keep theirs:
    its summary names each failure)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode == RunMode.RUN and hc.output_subdir:
        runfolder.discard_unstarted(Path(os.path.abspath(hc.runtime.output_dir)), hc.output_subdir,
                                    f"{hc.job.name}.log", MADE_HERE)  # fmt: skip


def _choices() -> dict[str, str]:
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices)


VERBS = {
    # every builder a run names is checked by name before its data loads
    "train": (hydra_app("train", "gan_cli.train:train", registry.check_targets),
              "train a GAN (gan train --help for every option)"),
    "sample": (hydra_app("sample", "gan_cli.sample:sample"),
               "samples from a checkpoint: a grid, image files, an interpolation"),
    "eval": (hydra_app("eval", "gan_cli.eval:evaluate"),
             "FID/KID/IS/precision-recall or mode coverage of checkpoints"),
    "report": (hydra_app("report", "gan_cli.report:report"),
               "a table of a sweep's runs: settings that differ, mean ± std over seeds"),
}  # fmt: skip


COMPLETION = """# gan's tab completion for bash (zsh: autoload bashcompinit && bashcompinit first):
#   eval "$(gan completion bash)"        (or put that line in ~/.bashrc)
_gan_completion() {
    local words=($COMP_LINE) word="${COMP_WORDS[COMP_CWORD]}"
    if (( COMP_CWORD <= 1 )); then
        COMPREPLY=($(compgen -W "%s completion" -- "$word"))
        return
    fi
    local choices
    choices=$(COMP_POINT=$COMP_POINT COMP_LINE="$COMP_LINE" "${words[0]}" "${words[1]}" \\
              -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _gan_completion gan
"""


def completion_query(verb: str) -> None:
    """Hydra's completion reads the command line from COMP_LINE and drops the program's name;
    `gan VERB ...` has one word more than Hydra expects, the verb: drop it too."""
    line = os.environ.get("COMP_LINE", "")
    program, _, rest = line.partition(" ")
    if rest.split(" ", 1)[0] == verb:
        os.environ["COMP_LINE"] = f"{program} {rest[len(verb) :].lstrip()}"


def usage() -> str:
    lines = ["usage: gan VERB [key=value ...] [hydra flags]", "", "verbs:"]
    lines += [f"  {verb:<9} {help_}" for verb, (_, help_) in VERBS.items()]
    lines += ["  reproduce rerun a published table (docs/results/): gan reproduce --list"]
    lines += [
        "",
        "examples:",
        "  gan train model=dcgan loss=hinge",
        "  gan train --multirun loss=minimax,non_saturating,wasserstein,hinge",
        "  gan train resume=outputs/2026-01-01/12-00-00",
        "  gan sample ckpt=outputs/2026-01-01/12-00-00 n=64 out=grid.png",
        "  gan sample ckpt=RUN class=3 n=64 out=threes.png truncation=0.7",
        "  gan eval ckpt=outputs/multirun/2026-01-01/12-00-00",
        "  gan report outputs/multirun/2026-01-01/12-00-00",
        "  gan train --cfg job",
        '  eval "$(gan completion bash)"      (tab completion of verbs, groups and keys)',
    ]
    return "\n".join(lines)


def one_line(exc: BaseException) -> str:
    """A Hydra, OmegaConf or OS error as one line that names the key, file or choice."""
    if isinstance(exc, MissingConfigException) and exc.options is not None:
        missing = str(exc.missing_cfg_file or "")
        group, _, choice = missing.rpartition("/")
        return f"{group}={choice}: no such choice; choose from {', '.join(sorted(exc.options))}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    cause = exc.__cause__ or exc.__context__  # Hydra's composition errors raise without `from`
    if isinstance(cause, OmegaConfBaseException):  # "Error merging override x=y" + the reason
        reason = next(iter(str(cause).splitlines()), "")
        key = getattr(cause, "full_key", None)
        head = lines[0] if lines else ""
        source = re.match(r"In '([^']+)': \w+ raised while composing config", head)
        if head.startswith("Error merging override "):
            head = head.removeprefix("Error merging override ")
        elif key:
            head = key
        # a value set by a config file (a preset) that the other choices do not accept
        return f"{head}: {reason}" + (f" (set by conf/{source[1]}.yaml)" if source else "")
    return lines[0] if lines else type(exc).__name__


def null_group(args: list[str]) -> str | None:
    """What to say for `group=null`: Hydra removes a group's entry with `~group`, and names
    neither the override nor the way out."""
    nulls = [a for a in args if re.fullmatch(r"\+{0,2}[\w/.@-]+=null", a)]
    if not nulls:
        return None
    key = nulls[0].split("=")[0].lstrip("+")
    return (f"{nulls[0]}: a config group takes one of its choices, not null (--help lists "
            f"them; ~{key} leaves out a group that may be absent, such as experiment)")  # fmt: skip


def fail(message: object, exit_code: int = 1) -> NoReturn:
    """The one `error: ...` line a command ends with. It may name a file or folder of a run
    someone else made: control characters are shown as escapes, never sent to the terminal,
    so the line cannot be split in two, recoloured or turned into a terminal command."""
    print(f"error: {printable(message)}", file=sys.stderr)
    raise SystemExit(exit_code) from None


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    verb, rest = argv[0], argv[1:]
    if verb == "completion":
        print(COMPLETION % " ".join([*VERBS, "reproduce"]), end="")
        return
    if verb == "reproduce":  # not a Hydra app: it runs `gan train` for each row of a table
        from gan_cli.reproduce import reproduce

        try:
            raise SystemExit(reproduce(rest))
        except GanError as exc:
            fail(exc)
    if verb not in VERBS:
        fail(f"unknown verb {verb!r}; choose from: {', '.join([*VERBS, 'reproduce'])}", 2)
    app, _ = VERBS[verb]
    if any(a in ("-sc", "--shell-completion") for a in rest):
        completion_query(verb)
    full_errors = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we report below
    rest = flags_first(rest)
    try:
        if verb == "train":
            from gan_cli.resume import resume_argv

            rest = torchrun_argv(resume_argv(added_stabilizers(rest)))
        if verb == "report":
            rest = positional_paths(rest)
        if verb == "sample":  # `class` is the word users know; Python reserves it
            rest = [f"label={a[6:]}" if a.startswith("class=") else a for a in rest]
        plugins.load_plugins()
        config.register()  # again: plugins may have added schemas
        rest = plugins.with_searchpath(rest, plugins.conf_dirs())
        sys.argv = [f"gan-{verb}", *quote_paths(rest)]  # what Hydra parses
        app()
    except Stop as exc:  # a GanError inside a run, or an interruption
        if full_errors and exc.__cause__ is not None:
            raise exc.__cause__ from None
        fail(exc, exc.exit_code)
    except (GanError, HydraException, OmegaConfBaseException, OSError) as exc:
        if full_errors:
            raise
        fail(one_line(exc))
    except ValueError as exc:  # Hydra's own refusals: flags together (--cfg --multirun), or
        if full_errors:  # a group set to null (`model=null`), which it does not name
            raise
        if str(exc).startswith("Only one of --run"):
            fail(exc)
        if str(exc).startswith("Config group override must be"):
            fail(null_group(rest) or exc)
        raise
    if sweep.failures():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
