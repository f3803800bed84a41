"""The documentation is checked: every generated table equals what `make docs` writes from
docs/results/, every page is reachable from the README, and every `gan ...` command in README.md
and docs/ composes (`--cfg job`), its placeholders filled by a real run; the error examples
print the error they show."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import error_line, run_gan, spec_of, tiny

from gan_cli import reproduce, results
from gan_cli.argv import added_stabilizers

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VERBS = {"train", "sample", "eval", "report"}

# Lines no test machine can run, each with why (everything else must compose).
SKIP = {
    "torchrun": "needs torchrun's several processes (tests/test_distributed.py runs one)",
    "submitit_slurm": "needs a SLURM cluster",
    "pip install": "installs a package (tests/test_plugins.py installs the example plugin)",
}


def script(path: str):
    """A script of the repository as a module (scripts/ and benchmarks/ are not a package)."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


@functools.cache
def cpu_matrix():
    """scripts/cpu_matrix.py (it reads and renders docs/results/cpu_*.jsonl)."""
    return script("scripts/cpu_matrix.py")


def test_generated_tables_equal_their_results_files():
    assert results.stale() == [], "run `make docs`"
    matrix = cpu_matrix()
    doc = matrix.DOC.read_text()
    assert matrix.MARK.sub(lambda m: m[1] + matrix.render() + "\n" + m[3], doc) == doc
    bench = script("benchmarks/run.py")  # RESULTS.md from docs/results/benchmarks/
    assert (ROOT / "benchmarks" / "RESULTS.md").read_text() == bench.render(), "run `make docs`"


def test_results_files_are_strict_json_and_round_trip(tmp_path, monkeypatch):
    """No NaN or Infinity literals (not JSON: other readers refuse them): an unknown figure is
    null, an infinite one "inf"; reading and saving a file gives the same file."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    for path in sorted(results.RESULTS.glob("*.json")):
        text = path.read_text()
        json.loads(text, parse_constant=refuse)
        monkeypatch.setenv("GAN_CLI_RESULTS", str(tmp_path))
        results.save(path.stem, results.load_file(path))
        assert (tmp_path / path.name).read_text() == text, path.name
    for path in sorted((results.RESULTS / "benchmarks").glob("*.json")):
        json.loads(path.read_text(), parse_constant=refuse)


def test_the_readme_is_short_and_reaches_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    linked = {Path(m).name for m in re.findall(r"\]\((docs/[\w.-]+\.md)\)", readme)}
    for page in (ROOT / "docs").glob("*.md"):
        assert page.name in linked, f"{page.name}: the README links no such page"
    for link in re.findall(r"\]\(((?:docs|examples|benchmarks)/[^)]*)\)", readme):
        assert (ROOT / link).exists(), link


def test_the_readme_names_every_preset():
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("| `experiment` |"))  # fmt: skip
    for preset in sorted((ROOT / "conf" / "experiment").glob("*.yaml")):
        assert f"`{preset.stem}`" in row, f"README's experiment row lacks {preset.stem}"


def commands() -> list[tuple[str, str]]:
    """(page, command) for every `gan ...` line of a shell block or inline code."""
    found = []
    for page in PAGES:
        text = page.read_text().replace("\\\n", " ")
        blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
        lines = [ln for b in blocks for ln in b.splitlines()]
        lines += re.findall(r"`(gan [^`]+)`", text)
        for line in lines:
            line = " ".join(line.split(" #", 1)[0].split())
            line = re.sub(r"^(PYTHONPATH=\S+ )", "", line)
            if line.startswith("gan ") and "..." not in line:
                found.append((page.name, line))
    return sorted(set(found))


@pytest.fixture(scope="module")
def a_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("docs")
    run = work / "run"
    out = run_gan("train", *tiny("steps=2", "eval.every=0"), f"hydra.run.dir={run}", cwd=work)
    assert out.returncode == 0, out.stderr
    return run


# a placeholder's value (an all-capitals word: `model=M`, `seed=S`, `gan reproduce NAME`)
EXAMPLE = {"model": "resnet", "loss": "hinge", "experiment": "grid25", "seed": "0",
           "dataset": "digits", "": "digits"}  # fmt: skip


def filled(command: str, run: Path) -> list[str] | None:
    """The command's words with its placeholders filled (a finished run for RUN, PATH and the
    example run folders, EXAMPLE's values for capitals), a sweep cut to its first value; None
    for a line SKIP names."""
    if any(word in command for word in SKIP) or re.fullmatch(r"gan [a-z]+( resume=)?", command):
        return None  # a line SKIP names, or a verb named in prose (`gan eval`)
    if re.fullmatch(r"[A-Z]+", command.split()[1]):
        return None  # `gan VERB`
    out = []
    for word in shlex.split(command)[1:]:
        key, sep, value = word.partition("=")
        if key in ("ckpt", "resume", "path") or re.match(r"(outputs|runs)/|(RUN|PATH)$",
                                                            value or key):  # fmt: skip
            word = f"{key}={run}" if sep else str(run)
        elif re.fullmatch(r"[A-Z]+", value or key):
            word = f"{key}={EXAMPLE[key]}" if sep else EXAMPLE[""]
        elif sep and "," in value and not value.startswith("["):
            word = f"{key}={value.split(',')[0]}"  # one job of the sweep
        out.append(word)
    return [w for w in out if w not in ("--multirun", "-m")]


ERROR = re.compile(r"`(gan [^`]+)` → `(error: [^`]+)`")  # an error example: command → line


def in_process(words: list[str]) -> bool:
    """A `gan train` line whose config the compose API gives as the command would (no
    resume, no search path of its own, no flag but --cfg and --multirun)."""
    flags = {w for w in words[1:] if w.startswith("-")} - {"--cfg", "--multirun"}
    special = any(w.startswith(("resume=", "hydra.", "trust=")) for w in words)
    return words[0] == "train" and not flags and not special


@pytest.mark.e2e
def test_every_command_in_the_docs_composes(a_run, workdir):
    failing = {c for p in PAGES for c, _ in ERROR.findall(p.read_text())}  # the next test's
    pages: dict[str, list[str]] = {}
    for page, command in commands():
        if command not in failing:
            pages.setdefault(command, []).append(page)
    checked = 0
    for command, where in pages.items():
        words = filled(command, a_run)
        if not words:
            continue
        if words[0] == "reproduce":  # parsed as the verb parses it; the table and rows exist
            args = reproduce.parse(words[1:])
            if args.name:
                assert args.name in results.names(), (where, command)
                rows = [r["name"] for r in results.load(args.name)["rows"]]
                assert set((args.rows or "").split(",")) - {""} <= set(rows), (where, command)
            continue
        if in_process(words):  # composed and validated as `gan train` does, in this process
            # after the front's rewrite of `stabilizers=[auto,x]` (gan_cli/argv.py)
            spec_of(
                *added_stabilizers([w for w in words[1:] if not w.startswith("-") and w != "job"])
            )
        else:
            if words[0] in VERBS and not any(w.startswith(("--help", "--info", "--cfg"))
                                             for w in words):  # fmt: skip
                words = [*words, "--cfg", "job"]
            out = run_gan(*words, cwd=ROOT)
            assert out.returncode == 0, f"{where}: {command}\n{out.stderr}"
        checked += 1
    assert checked >= 40


@pytest.mark.e2e
def test_the_error_examples_print_their_error(workdir):
    examples = [(p.name, m) for p in PAGES for m in ERROR.findall(p.read_text())]
    assert examples
    for page, (command, shown) in examples:
        line = error_line(run_gan(*shlex.split(command)[1:], cwd=workdir))
        assert line.startswith(shown.split("...")[0].rstrip(" (")), (page, command, line)


def test_the_layout_section_names_every_module_and_only_what_exists():
    """docs/extending.md's "Where things live" matches the tree: every module and subpackage of
    gan_cli is named there, and every gan_cli/ or conf/ path it names exists."""
    page = (ROOT / "docs" / "extending.md").read_text()
    block = page.split("## Where things live", 1)[1].split("```")[1]
    named = set(re.findall(r"(?:gan_cli|conf)/[\w/<>.]*", block))
    named |= {f"gan_cli/{m}" for m in re.findall(r",\s*(\w+\.py)", block)}  # "a.py, b.py"
    for path in named:
        if "<" not in path:
            assert (ROOT / path).exists(), f"docs/extending.md names {path}, which does not exist"
    package = ROOT / "gan_cli"
    modules = {f"gan_cli/{p.name}" for p in package.glob("*.py") if not p.name.startswith("__")}
    packages = {f"gan_cli/{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    missing = sorted((modules | packages) - named)
    assert not missing, f"docs/extending.md's layout does not name {missing}"


def test_reproduce_list_names_every_results_table():
    listed = reproduce.listing()
    missing = [n for n in results.names() if n not in listed and "targets" not in results.load(n)]
    assert not missing, f"gan reproduce --list leaves out {missing}"


def test_a_target_verdict_is_computed_from_every_run_it_names(tmp_path, monkeypatch):
    """The defaults' targets are not typed: a run that misses a bound turns the verdict into
    **missed**, naming the run; met shows each metric's worst run."""
    monkeypatch.setenv("GAN_CLI_RESULTS", str(tmp_path))
    runs = [{"seed": s, "metrics": {"fid": f, "classes": 10}} for s, f in enumerate([6, 9, 31])]
    results.save("t", {"title": "t", "metrics": ["fid"], "seeds": [0, 1, 2],
                       "rows": [{"name": "a", "command": "gan train", "runs": runs}]})  # fmt: skip
    target = {"command": "gan train", "of": [{"table": "t", "rows": ["a"]}]}
    missed = results.verdict(target, {"fid": ["<=", 30], "classes": [">=", 10]})
    assert missed == "**missed**: fid 31 (not ≤ 30: a, seed 2)"
    met = results.verdict(target, {"fid": ["<=", 40]})
    assert met == "**met** by each of 3 runs; the worst: fid 31 (seed 2)"
    assert "not measured in 3 runs" in results.verdict(target, {"precision": [">=", 0.5]})
