"""Every example of the documentation runs here, so that none of them can go stale.

The pages include their code (``--8<--`` snippets) from two places, the ``base_path`` of
``mkdocs.yml``: ``docs/examples/``, and the project's top-level ``examples/`` folder (as
``examples/test_*.py``), whose test files the suite collects itself (``testpaths``). This
file runs those of ``docs/examples/`` as a reader would:

- test files (``test_*.py``) with pytest in a subprocess, in a scratch directory: all the
  ordinary ones in one run, the ones that need their own (an ini file, xdist, failing on
  purpose) apart, with their expected outcome and output;
- scripts with the current interpreter, shell snippets with bash, and the command line's
  printed help and output against the text files the pages show.

It also checks that the pages hold no code block of their own, that every snippet they
include exists, that every file of ``docs/examples/`` is included by a page and run here,
and that what they include from ``examples/`` is a test file the suite runs.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
#: The top-level example tests: collected by the suite itself (pyproject's testpaths).
TOP_EXAMPLES = ROOT / "examples"
#: Where the pages' snippets are looked up, in order (mkdocs.yml, pymdownx.snippets).
SNIPPET_BASES = (EXAMPLES, ROOT)

#: Seconds any one example run may take before it counts as hung.
RUN_TIMEOUT = 90

#: pytest options for every inner run: no cache files, no slow-to-import plugins the
#: examples do not need.
INNER_PYTEST = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:randomly"]

INNER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

# Test files that cannot share the common run, each with its own run below.
FAILING_ON_PURPOSE = ("faults/failing/test_report.py", "faults/failing/test_server_error.py")
OWN_RUN = (
    *FAILING_ON_PURPOSE,
    "fixture/ini/test_defaults.py",  # needs its pytest.ini
    "ci/test_parallel.py",  # runs under xdist
    "migrating/test_before.py",  # written for pytest-localftpserver
)
# Scripts run with python; each must exit 0.
SCRIPTS = (
    "server/serve_basic.py",
    "server/context_manager.py",
    "server/two_users.py",
    "server/backends.py",
    "server/custom_pathio.py",
    "server/timeouts.py",
    "server/limits.py",
    "server/speed_limits.py",
    "server/background_thread.py",
    "ftps/server_tls.py",
    "cli/from_any_test_suite.py",
)
# Files that are used by other examples, or checked by a test of their own below.
SUPPORT = (
    "migrating/myapp.py",
    "fixture/ini/pytest.ini",
    "fixture/ini/command_line.sh",
    "faults/failing/report_section.txt",
    "faults/failing/server_error_section.txt",
    "cli/help.txt",
    "cli/serve.sh",
    "cli/serve_output.txt",
    "cli/tls.sh",
    "cli/tls_output.txt",
    "cli/demo.sh",
    "ci/github-actions.yml",
    "benchmarks/commands.sh",
)

SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')
FENCE = re.compile(r"^(\s*)(```|~~~)")


def _example_files() -> list[str]:
    return sorted(
        p.relative_to(EXAMPLES).as_posix()
        for p in EXAMPLES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def _common_test_files() -> list[str]:
    return [
        name
        for name in _example_files()
        if pathlib.PurePosixPath(name).name.startswith("test_")
        and name.endswith(".py")
        and name not in OWN_RUN
    ]


# --------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------


def _environment(tmp: pathlib.Path) -> dict[str, str]:
    """The outer run's environment, minus what would leak pytest state into inner runs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_CORE_")) and k not in ("COLUMNS", "LINES")
    }
    # "python" in the shell snippets is this interpreter.
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env["PATH"]])
    env["COLUMNS"] = "80"
    env["TMPDIR"] = str(tmp)  # what the command line leaves in the temp dir goes with tmp
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Run:
    args: Sequence[str]
    returncode: int
    output: str

    def explain(self) -> str:
        return f"$ {' '.join(self.args)}\n(exit status {self.returncode})\n{self.output}"


def _run(args: Sequence[str], cwd: pathlib.Path, env: dict[str, str]) -> Run:
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else ""
        return Run(list(args), -1, f"timed out after {RUN_TIMEOUT} s\n{output}")
    return Run(list(args), done.returncode, done.stdout)


def _copy(names: Sequence[str], target: pathlib.Path) -> None:
    for name in names:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLES / name, destination)


def _pytest(directory: pathlib.Path, env: dict[str, str], *extra: str) -> Run:
    return _run(
        [sys.executable, "-m", "pytest", *INNER_PYTEST, "-rA", *extra], directory, env
    )


@dataclass
class Outcomes:
    """What one inner pytest run did, per example file, from its JUnit XML report."""

    run: Run
    by_file: dict[str, list[tuple[str, str]]]  # file -> [(test name, outcome)]


def _outcomes(run: Run, junit: pathlib.Path, files: Sequence[str]) -> Outcomes:
    by_file: dict[str, list[tuple[str, str]]] = {name: [] for name in files}
    modules = {name.removesuffix(".py").replace("/", "."): name for name in files}
    if junit.exists():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            classname = case.get("classname", "")
            name = case.get("name", "")
            owner = modules.get(classname) or next(
                (f for m, f in modules.items() if classname.startswith(m + ".")), None
            )
            if owner is None:
                continue
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = child.tag
            by_file[owner].append((name, outcome))
    return Outcomes(run, by_file)


# --------------------------------------------------------------------------------------
# All the runs, started together (they are mostly waiting) once per module
# --------------------------------------------------------------------------------------


@dataclass
class Results:
    common: Outcomes
    failing: Outcomes
    ini: Run
    command_line: Run
    parallel: Run | None
    before: Run | None
    scripts: dict[str, Run]
    help: Run
    demo: Run


def _common_run(work: pathlib.Path, env: dict[str, str]) -> Outcomes:
    files = _common_test_files()
    directory = work / "common"
    _copy([*files, "migrating/myapp.py"], directory)
    (directory / "pytest.ini").write_text(INNER_INI)
    junit = work / "common.xml"
    return _outcomes(_pytest(directory, env, f"--junitxml={junit}"), junit, files)


def _failing_run(work: pathlib.Path, env: dict[str, str]) -> Outcomes:
    directory = work / "failing"
    _copy(FAILING_ON_PURPOSE, directory)
    (directory / "pytest.ini").write_text(INNER_INI)
    junit = work / "failing.xml"
    run = _pytest(directory, env, f"--junitxml={junit}")
    return _outcomes(run, junit, FAILING_ON_PURPOSE)


def _ini_runs(work: pathlib.Path, env: dict[str, str]) -> tuple[Run, Run]:
    with_ini = work / "ini"
    _copy(["fixture/ini/pytest.ini", "fixture/ini/test_defaults.py"], with_ini)
    ini = _pytest(with_ini / "fixture" / "ini", env)
    # The same tests with the options on the command line instead (the page's snippet).
    without_ini = work / "command-line"
    _copy(["fixture/ini/test_defaults.py", "fixture/ini/command_line.sh"], without_ini)
    directory = without_ini / "fixture" / "ini"
    (directory / "pytest.ini").write_text(INNER_INI)  # no ftp_server_* keys in it
    quiet_env = {**env, "PYTEST_ADDOPTS": " ".join(INNER_PYTEST)}
    command_line = _run(["bash", "command_line.sh"], directory, quiet_env)
    return ini, command_line


def _parallel_run(work: pathlib.Path, env: dict[str, str]) -> Run | None:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return None
    directory = work / "parallel"
    _copy(["ci/test_parallel.py"], directory)
    (directory / "pytest.ini").write_text(INNER_INI)
    return _pytest(directory, env, "-n", "2")


def _before_run(work: pathlib.Path, env: dict[str, str]) -> Run | None:
    try:
        import pytest_localftpserver  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return None
    directory = work / "before"
    _copy(["migrating/test_before.py", "migrating/myapp.py"], directory)
    return _pytest(directory, env)


def _script_run(work: pathlib.Path, env: dict[str, str], name: str) -> Run:
    directory = work / "scripts" / name.replace("/", "-")
    directory.mkdir(parents=True)
    return _run([sys.executable, str(EXAMPLES / name)], directory, env)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    work = tmp_path_factory.mktemp("docs-examples")
    env = _environment(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        common = pool.submit(_common_run, work, env)
        failing = pool.submit(_failing_run, work, env)
        ini = pool.submit(_ini_runs, work, env)
        parallel = pool.submit(_parallel_run, work, env)
        before = pool.submit(_before_run, work, env)
        scripts = {name: pool.submit(_script_run, work, env, name) for name in SCRIPTS}
        help_run = pool.submit(
            _run, [sys.executable, "-m", "pytest_ftpserver", "--help"], work, env
        )
        demo_dir = work / "demo"
        demo_dir.mkdir()
        demo = pool.submit(_run, ["bash", str(EXAMPLES / "cli" / "demo.sh")], demo_dir, env)
        ini_run, command_line_run = ini.result()
        return Results(
            common=common.result(),
            failing=failing.result(),
            ini=ini_run,
            command_line=command_line_run,
            parallel=parallel.result(),
            before=before.result(),
            scripts={name: future.result() for name, future in scripts.items()},
            help=help_run.result(),
            demo=demo.result(),
        )


# --------------------------------------------------------------------------------------
# Matching printed output against the text the pages show
# --------------------------------------------------------------------------------------


def _line_pattern(line: str) -> re.Pattern[str]:
    """A shown line as a regex: ``...`` stands for anything, ``PORT`` for a port number;
    pytest's separator lines match whatever their width."""
    separator = re.fullmatch(r"([-_=])\1+ (.*?) \1+", line)
    if separator:
        char = re.escape(separator.group(1))
        return re.compile(f"{char}+ {_inline_pattern(separator.group(2))} {char}+")
    return re.compile(_inline_pattern(line))


def _inline_pattern(text: str) -> str:
    pieces = [re.escape(piece).replace("PORT", r"\d+") for piece in text.split("...")]
    return ".*".join(pieces)


def _matches(shown: Sequence[str], printed: Sequence[str]) -> bool:
    """Whether the shown lines appear in the printed ones, in order and consecutively,
    except where a shown line is ``...`` alone (any number of lines there)."""
    patterns: list[re.Pattern[str] | None] = [
        None if line.strip() == "..." else _line_pattern(line.rstrip()) for line in shown
    ]

    def match_from(p: int, i: int) -> bool:
        if p == len(patterns):
            return True
        pattern = patterns[p]
        if pattern is None:
            return any(match_from(p + 1, j) for j in range(i, len(printed) + 1))
        return (
            i < len(printed)
            and pattern.fullmatch(printed[i].rstrip()) is not None
            and match_from(p + 1, i + 1)
        )

    first = patterns[0]
    return any(
        (first is None or first.fullmatch(printed[i].rstrip()) is not None)
        and match_from(1 if first is not None else 0, i + 1 if first is not None else i)
        for i in range(len(printed))
    )


def test_matcher_itself() -> None:
    printed = ["noise", "--- a ftp://h:21 ---", "x", "y", "end: 1", "tail"]
    assert _matches(["-- a ftp://h:PORT --", "...", "end: ..."], printed)
    assert _matches(["x", "y"], printed)
    assert not _matches(["x", "end: 1"], printed)  # not consecutive without "..."
    assert not _matches(["--- a ftp://h:PORT ---", "y"], printed)


def _shown(name: str) -> list[str]:
    return (EXAMPLES / name).read_text().splitlines()


# --------------------------------------------------------------------------------------
# The pages
# --------------------------------------------------------------------------------------


def _pages() -> list[pathlib.Path]:
    return sorted(p for p in DOCS.rglob("*.md") if EXAMPLES not in p.parents)


def _code_blocks(page: pathlib.Path) -> Iterator[tuple[int, list[str]]]:
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group(2)
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        yield start, body
        i += 1


def test_pages_hold_no_code_of_their_own() -> None:
    """Every code block of every page is one snippet of an example file."""
    problems = []
    for page in _pages():
        for line_number, body in _code_blocks(page):
            lines = [line for line in body if line.strip()]
            if len(lines) != 1 or not SNIPPET.match(lines[0]):
                where = f"{page.relative_to(ROOT)}:{line_number}"
                problems.append(f"{where}: a code block that is not one --8<-- snippet")
    assert not problems, "\n".join(problems)


def test_every_example_is_included_and_run() -> None:
    included = {
        match.group(1)
        for page in _pages()
        for line in page.read_text().splitlines()
        if (match := SNIPPET.match(line))
    }
    missing = sorted(
        name for name in included if not any((base / name).is_file() for base in SNIPPET_BASES)
    )
    assert not missing, f"pages include example files that do not exist: {missing}"
    from_top = {name for name in included if not (EXAMPLES / name).is_file()}
    not_run = sorted(
        name
        for name in from_top
        if (ROOT / name).parent != TOP_EXAMPLES
        or not pathlib.PurePosixPath(name).name.startswith("test_")
        or not name.endswith(".py")
    )
    assert not not_run, (
        f"pages include files outside docs/examples/ that are not test files of examples/ "
        f"(which the suite collects): {not_run}"
    )
    # One home per example: no test file name in both folders (a copy, most likely).
    top_names = {p.name for p in TOP_EXAMPLES.glob("test_*.py")}
    twice = sorted({pathlib.PurePosixPath(f).name for f in _example_files()} & top_names)
    assert not twice, f"test files both in docs/examples/ and in examples/: {twice}"

    files = set(_example_files())
    covered = set(_common_test_files()) | set(OWN_RUN) | set(SCRIPTS) | set(SUPPORT)
    assert not sorted(files - covered), (
        f"example files that no test here runs or checks: {sorted(files - covered)}; "
        "add them to the lists at the top of tests/test_docs_examples.py"
    )
    not_shown = sorted(files - included - {"migrating/myapp.py"})
    assert not not_shown, f"example files that no page includes: {not_shown}"


def test_common_test_files_have_unique_names() -> None:
    # They run together with pytest's default import mode, which needs unique basenames.
    names = [pathlib.PurePosixPath(f).name for f in _common_test_files()]
    assert len(names) == len(set(names)), sorted(names)


# --------------------------------------------------------------------------------------
# The examples
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _common_test_files())
def test_pytest_example(results: Results, name: str) -> None:
    outcomes = results.common.by_file[name]
    assert outcomes, f"{name} ran no test\n{results.common.run.explain()}"
    bad = [(test, outcome) for test, outcome in outcomes if outcome in ("failure", "error")]
    assert not bad, f"{name}: {bad}\n{results.common.run.explain()}"
    assert any(outcome == "passed" for _, outcome in outcomes) or all(
        outcome == "skipped" for _, outcome in outcomes
    )


def test_failure_report_example(results: Results) -> None:
    run = results.failing.run
    assert results.failing.by_file["faults/failing/test_report.py"] == [
        ("test_download_report", "failure")
    ], run.explain()
    printed = run.output.splitlines()
    assert _matches(_shown("faults/failing/report_section.txt"), printed), run.explain()


def test_server_error_example(results: Results) -> None:
    run = results.failing.run
    # The test body passes; the server's error fails it at teardown.
    outcomes = results.failing.by_file["faults/failing/test_server_error.py"]
    assert ("test_listing", "error") in outcomes, run.explain()
    printed = run.output.splitlines()
    assert _matches(_shown("faults/failing/server_error_section.txt"), printed), run.explain()


def test_ini_example(results: Results) -> None:
    assert results.ini.returncode == 0, results.ini.explain()
    assert "2 passed" in results.ini.output, results.ini.explain()


def test_command_line_options_example(results: Results) -> None:
    run = results.command_line
    assert run.returncode == 0, run.explain()
    assert "2 passed" in run.output, run.explain()


def test_xdist_example(results: Results) -> None:
    if results.parallel is None:
        pytest.skip("pytest-xdist is not installed")
    assert results.parallel.returncode == 0, results.parallel.explain()
    assert "8 passed" in results.parallel.output, results.parallel.explain()


def test_migration_before_example(results: Results) -> None:
    """The pytest-localftpserver side is at least valid Python; run when it is installed."""
    source = (EXAMPLES / "migrating" / "test_before.py").read_text()
    compile(source, "test_before.py", "exec")
    if results.before is None:
        pytest.skip("pytest-localftpserver is not installed")
    assert results.before.returncode == 0, results.before.explain()


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_example(results: Results, name: str) -> None:
    run = results.scripts[name]
    assert run.returncode == 0, run.explain()


def _normalized(text: str) -> str:
    return " ".join(text.split())


def test_cli_help_matches_the_page(results: Results) -> None:
    assert results.help.returncode == 0, results.help.explain()
    shown = (EXAMPLES / "cli" / "help.txt").read_text()
    # argparse's layout differs a little between Python versions; the words may not.
    assert _normalized(results.help.output) == _normalized(shown), (
        "docs/examples/cli/help.txt is stale: regenerate it with\n"
        "COLUMNS=80 python -m pytest_ftpserver --help > docs/examples/cli/help.txt\n"
        + results.help.explain()
    )


def test_cli_demo_example(results: Results) -> None:
    run = results.demo
    assert run.returncode == 0, run.explain()
    assert "identical to the upload: True" in run.output, run.explain()


@pytest.mark.parametrize(
    ("script", "shown"),
    [("cli/serve.sh", "cli/serve_output.txt"), ("cli/tls.sh", "cli/tls_output.txt")],
)
def test_cli_serving_examples(tmp_path: pathlib.Path, script: str, shown: str) -> None:
    """Start the snippet, read what it prints once listening, stop it with SIGINT."""
    expected = _shown(shown)
    process = subprocess.Popen(
        ["bash", str(EXAMPLES / script)],
        cwd=tmp_path,
        env=_environment(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: bash and the server get SIGINT
    )
    assert process.stdout is not None
    printed: list[str] = []
    try:
        for _ in range(len(expected)):
            line = process.stdout.readline()  # the server prints its lines at once
            if not line:
                break
            printed.append(line.rstrip("\n"))
        # A greeting proves the event loop is serving, hence past the point where the
        # command line installs its SIGINT handler (it prints its lines just before).
        address = re.search(r"ftps?://([\d.]+):(\d+)", printed[0] if printed else "")
        assert address is not None, printed
        with socket.create_connection((address[1], int(address[2])), timeout=10) as probe:
            assert probe.recv(100).startswith(b"220")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            raise
        finally:
            rest = process.stdout.read()
            process.stdout.close()
    assert _matches(expected, printed), f"printed:\n{chr(10).join(printed)}\n{rest}"
    assert returncode == 0, rest


def test_github_actions_example() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    assert any("python -m pytest -n auto" in command for command in commands)


def test_benchmark_commands_name_real_scripts() -> None:
    for line in _shown("benchmarks/commands.sh"):
        command = line.split("#", 1)[0].split()
        if command:
            assert command[0] == "python"
            assert (ROOT / command[1]).is_file(), f"{command[1]} does not exist"
