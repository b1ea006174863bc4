#!/usr/bin/env python3
"""Per-test cost of our ``ftp_server`` fixture against pytest-localftpserver's ``ftpserver``.

    python benchmarks/fixture_cost.py [--tests N] [--rounds R] [--quick]

Generates a suite of N tests that each log in, list the root (NLST) and quit, and runs it
with pytest in a subprocess: with our function-scoped ``ftp_server``, with
pytest-localftpserver at its default module scope and at function scope
(``FTP_FIXTURE_SCOPE=function``). The same suite with an empty test body and the same
plugin loaded is the baseline; the per-test cost is (test phase - baseline's) / N: it counts
start + login + NLST + quit + stop and nothing pytest would spend anyway. Only the test
phase is timed (a conftest notes the first setup and the last teardown). Runs are
interleaved over rounds; the table shows medians.

Runs inside ``benchmarks/.env`` (made on first use). Results go to
``docs/benchmarks/results.md`` and ``docs/benchmarks/fixture_cost.png``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

RUN_TIMEOUT = 900.0  # seconds for one pytest run, even the slowest variant
PYTEST_SUMMARY_RE = re.compile(r"(\d+) passed.* in ([0-9.]+)s")
SPAN_ENV = "FIXTURE_COST_SPAN_FILE"

# Times the test phase only: from the first test's setup to the last test's teardown, so
# that interpreter start-up, plugin imports and collection (noisy, and not per test) stay
# out of the per-test figure.
SPAN_CONFTEST = f'''
import os
import time

_span = {{}}


def pytest_runtest_logstart(nodeid, location):
    _span.setdefault("first", time.perf_counter())


def pytest_runtest_logfinish(nodeid, location):
    _span["last"] = time.perf_counter()


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("{SPAN_ENV}")
    modules = {{id(item.module): item.module for item in session.items}}.values()
    refused = sum(getattr(module, "REFUSED", [0])[0] for module in modules)
    if path and "first" in _span and "last" in _span:
        with open(path, "w") as out:
            out.write(repr((_span["last"] - _span["first"], refused)))
'''

CLIENT = '''
import ftplib

import pytest


def session(host, port, login, password):
    ftp = ftplib.FTP(timeout=30)
    ftp.connect(host, port)
    ftp.login(login, password)
    ftp.nlst()
    ftp.quit()
'''

OURS = CLIENT + '''

@pytest.mark.parametrize("i", range({tests}))
def test_session(ftp_server, i):
    session(ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password)
'''

# pytest-localftpserver's server may not listen yet when its fixture returns: a user has
# to retry a refused connection, and so does this test (bounded; refusals are counted).
LOCAL = '''
import ftplib
import time

import pytest

REFUSED = [0]


def session(host, port, login, password):
    ftp = ftplib.FTP(timeout=30)
    deadline = time.monotonic() + 10
    while True:
        try:
            ftp.connect(host, port)
            break
        except ConnectionRefusedError:
            REFUSED[0] += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)
    ftp.login(login, password)
    ftp.nlst()
    ftp.quit()


@pytest.mark.parametrize("i", range({tests}))
def test_session(ftpserver, i):
    data = ftpserver.get_login_data()
    session(data["host"], data["port"], data["user"], data["passwd"])
'''

# The same with the in-memory backend: the fixture's own cost, without pytest's tmp_path.
OURS_MEMORY = CLIENT + '''

@pytest.mark.ftp_server(backend="memory")
@pytest.mark.parametrize("i", range({tests}))
def test_session(ftp_server, i):
    session(ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password)
'''

# pytest's tmp_path alone (what the default backend's directory costs before any server).
TMP_PATH_ONLY = '''
import pytest


@pytest.mark.parametrize("i", range({tests}))
def test_session(tmp_path, i):
    pass
'''

EMPTY = '''
import pytest


@pytest.mark.parametrize("i", range({tests}))
def test_session(i):
    pass
'''

OUR_PLUGIN, LOCAL_PLUGIN = "ftpserver", "localftpserver"  # pytest11 entry point names


@dataclass
class Variant:
    key: str
    label: str
    source: str
    plugin: str  # the one FTP plugin left enabled
    tests: int
    env: dict[str, str] = field(default_factory=dict)
    one_cpu: bool = False  # the pytest process pinned to one CPU (as `taskset -c N`)
    baseline: str | None = None  # key of the variant to subtract
    wall: list[float] = field(default_factory=list)  # the whole pytest process
    span: list[float] = field(default_factory=list)  # first setup to last teardown
    refused: list[int] = field(default_factory=list)  # connections refused at test start
    error: str | None = None


def variants(tests: int, slow_tests: int) -> list[Variant]:
    return [
        Variant("ours-empty", "baseline: empty tests, our plugin loaded",
                EMPTY.format(tests=tests), OUR_PLUGIN, tests),
        Variant("ours", "pytest-ftpserver `ftp_server` (function scope)",
                OURS.format(tests=tests), OUR_PLUGIN, tests, baseline="ours-empty"),
        Variant("ours-memory", "pytest-ftpserver `ftp_server`, backend=\"memory\"",
                OURS_MEMORY.format(tests=tests), OUR_PLUGIN, tests, baseline="ours-empty"),
        Variant("tmp-path", "pytest's `tmp_path` alone, no server (part of the default)",
                TMP_PATH_ONLY.format(tests=tests), OUR_PLUGIN, tests, baseline="ours-empty"),
        *([
            Variant("ours-empty-1cpu", "baseline: empty tests, pytest on one CPU",
                    EMPTY.format(tests=tests), OUR_PLUGIN, tests, one_cpu=True),
            Variant("ours-1cpu", "pytest-ftpserver `ftp_server`, pytest on one CPU (FAQ)",
                    OURS.format(tests=tests), OUR_PLUGIN, tests, one_cpu=True,
                    baseline="ours-empty-1cpu"),
        ] if hasattr(os, "sched_setaffinity") else []),
        Variant("local-empty", "baseline: empty tests, pytest-localftpserver loaded",
                EMPTY.format(tests=tests), LOCAL_PLUGIN, tests),
        Variant("local-module", "pytest-localftpserver `ftpserver` (module scope, default)",
                LOCAL.format(tests=tests), LOCAL_PLUGIN, tests, baseline="local-empty"),
        Variant("local-function", "pytest-localftpserver `ftpserver` (function scope)",
                LOCAL.format(tests=slow_tests), LOCAL_PLUGIN, slow_tests,
                env={"FTP_FIXTURE_SCOPE": "function"}, baseline="local-empty"),
    ]


def run_variant(variant: Variant, workdir: Path) -> None:
    test_file = workdir / f"test_{variant.key.replace('-', '_')}.py"
    test_file.write_text(variant.source)
    other = LOCAL_PLUGIN if variant.plugin == OUR_PLUGIN else OUR_PLUGIN
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", f"no:{other}",
            "-W", "ignore::DeprecationWarning", str(test_file)]
    span_file = workdir / f"span-{variant.key}.txt"
    span_file.unlink(missing_ok=True)
    env = {**os.environ, **variant.env, "PYTHONDONTWRITEBYTECODE": "1",
           SPAN_ENV: str(span_file)}
    pin: Callable[[], None] | None = None
    if variant.one_cpu:  # the CPU this harness runs on now, as `taskset -c N` would
        cpu = _current_cpu()

        def pin() -> None:
            os.sched_setaffinity(0, {cpu})

    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, preexec_fn=pin)
    except subprocess.TimeoutExpired:
        variant.error = f"timed out after {RUN_TIMEOUT:.0f} s"
        return
    wall = time.perf_counter() - start
    match = PYTEST_SUMMARY_RE.search(proc.stdout)
    if (proc.returncode != 0 or not match or int(match.group(1)) != variant.tests
            or not span_file.exists()):
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        variant.error = f"pytest exit {proc.returncode}: {tail[:500]}"
        return
    variant.wall.append(wall)
    span, refused = ast.literal_eval(span_file.read_text())
    variant.span.append(float(span))
    variant.refused.append(int(refused))


def _current_cpu() -> int:
    """A CPU this process may run on (the one it runs on now, where Linux says)."""
    try:
        with open("/proc/thread-self/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return min(os.sched_getaffinity(0))


def rotated(items: Sequence[Variant], by: int) -> list[Variant]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def per_test_ms(variant: Variant, by_key: dict[str, Variant]) -> float | None:
    if variant.baseline is None or variant.error or not variant.span:
        return None
    base = by_key[variant.baseline]
    if base.error or not base.span:
        return None
    rounds = min(len(variant.span), len(base.span))
    diffs = [variant.span[i] / variant.tests - base.span[i] / base.tests
             for i in range(rounds)]
    return benchlib.median(diffs) * 1000


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def build_table(all_variants: list[Variant]) -> tuple[str, dict[str, float | None]]:
    by_key = {v.key: v for v in all_variants}
    costs = {v.key: per_test_ms(v, by_key) for v in all_variants}
    ours_cost = costs.get("ours")
    ours = by_key["ours"]
    ours_suite = benchlib.median(ours.span) if ours.span and not ours.error else None
    headers = ["fixture", "tests", "pytest process (s)", "test phase (s)",
               "per-test cost (ms)", "ours / this (per test)", "refused at test start"]
    rows = []
    for v in all_variants:
        wall = benchlib.median(v.wall) if v.wall and not v.error else None
        span = benchlib.median(v.span) if v.span and not v.error else None
        cost = costs[v.key]
        ratio = ours_cost / cost if ours_cost is not None and cost else None
        refused = str(max(v.refused)) if v.refused and v.baseline else ""
        rows.append([v.label, str(v.tests), fmt(wall), fmt(span, 3),
                     fmt(cost) if v.baseline else "", fmt(ratio) if v.baseline else "",
                     refused])
    table = benchlib.markdown_table(headers, rows)
    module = by_key["local-module"]
    module_suite = benchlib.median(module.span) if module.span and not module.error else None
    if module_suite is not None and module.tests != ours.tests:
        module_suite = None  # the suites differ in size: no suite-to-suite ratio
    suite_ratio = (module_suite / ours_suite) if module_suite and ours_suite else None
    verdicts = [
        f"- ours per test: {fmt(ours_cost)} ms (target ≤ 2 ms): "
        + ("n/a" if ours_cost is None else "met" if ours_cost <= 2 else "NOT met")
        + f"; of which pytest's tmp_path {fmt(costs.get('tmp-path'))} ms; "
        f"with backend=\"memory\" {fmt(costs.get('ours-memory'))} ms; "
        f"with pytest on one CPU {fmt(costs.get('ours-1cpu'))} ms (not the target's "
        "setting: see the FAQ)",
        f"- pytest-localftpserver module-scope test phase / ours: {fmt(suite_ratio)} "
        "(target ≥ 2x, test phases): "
        + ("n/a" if suite_ratio is None else "met" if suite_ratio >= 2 else "NOT met"),
    ]
    errors = [f"- {v.label}: {v.error}" for v in all_variants if v.error]
    text = table + "\n\n" + "\n".join(verdicts)
    if errors:
        text += "\n\nErrors:\n\n" + "\n".join(errors)
    return text, costs


def plot(all_variants: list[Variant], costs: dict[str, float | None], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [v for v in all_variants
             if v.baseline and v.key != "tmp-path" and costs.get(v.key) is not None]
    if not shown:
        return False
    labels = {"ours": "pytest-ftpserver\nftp_server (function)",
              "ours-memory": "pytest-ftpserver\nbackend=memory",
              "ours-1cpu": "pytest-ftpserver\npytest on one CPU",
              "local-module": "pytest-localftpserver\n(module scope)",
              "local-function": "pytest-localftpserver\n(function scope)"}
    colours = {"ours": "#1b7837", "ours-memory": "#5aae61", "ours-1cpu": "#a6dba0",
               "local-module": "#2166ac", "local-function": "#b2182b"}
    values = [max(costs[v.key] or 0.0, 1e-3) for v in shown]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bars = ax.bar([labels.get(v.key, v.key) for v in shown], values,
                  color=[colours.get(v.key, "#999999") for v in shown])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:.2f} ms", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    ax.set_yscale("log")
    ax.axhline(2.0, color="#555555", linestyle="--", linewidth=1, label="target: 2 ms")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_ylabel("ms per test (log scale), lower is better")
    ax.set_title("Per-test cost: start + login + NLST + quit + stop", fontsize=10)
    ax.margins(y=0.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, help="tests per suite (default 200)")
    parser.add_argument("--slow-tests", type=int,
                        help="tests in pytest-localftpserver's function-scope suite, about "
                             "1 s each (default 50)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="20 tests, 1 round, current interpreter when possible")
    parser.add_argument("--no-venv", action="store_true",
                        help="use the current interpreter instead of benchmarks/.env")
    parser.add_argument("--out", type=Path, help="directory for results.md and the PNG "
                        "(default docs/benchmarks; --quick writes only with --out)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    tests = args.tests or (20 if args.quick else 200)
    slow_tests = args.slow_tests or (5 if args.quick else min(tests, 50))
    rounds = args.rounds or (1 if args.quick else 3)
    if min(tests, slow_tests, rounds) < 1:
        parser.error("--tests, --slow-tests and --rounds must be at least 1")

    use_current = args.no_venv or (
        args.quick and importlib.util.find_spec("pytest_localftpserver") is not None)
    if not use_current:
        benchlib.ensure_env(Path(__file__).resolve(), argv)

    sockets_note = (benchlib.wait_for_time_wait() if not args.quick
                    else f"{benchlib.time_wait_sockets()} sockets in TIME_WAIT at start")
    started = time.monotonic()
    all_variants = variants(tests, slow_tests)
    with tempfile.TemporaryDirectory(prefix="ftp-fixture-cost-") as tmp:
        workdir = Path(tmp)
        (workdir / "pytest.ini").write_text(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        (workdir / "conftest.py").write_text(SPAN_CONFTEST)
        for round_no in range(rounds):
            for variant in rotated(all_variants, round_no):
                if variant.error:
                    continue
                print(f"[{time.strftime('%H:%M:%S')}] round {round_no + 1}/{rounds}: "
                      f"{variant.key}", file=sys.stderr, flush=True)
                run_variant(variant, workdir)

    text, costs = build_table(all_variants)
    versions = ", ".join(f"{n} {benchlib.package_version(n)}"
                         for n in ("pytest-ftpserver", "pytest-localftpserver", "pytest"))
    context = (f"{benchlib.machine_line()}; {versions}; commit {benchlib.git_revision()}; "
               f"{tests} tests, {rounds} round(s), {time.monotonic() - started:.0f} s; "
               f"{sockets_note}")
    print()
    print(text)
    print()
    print(context)

    out_dir: Path | None = args.out
    if out_dir is None and not args.quick:
        out_dir = benchlib.DOCS_DIR
    if out_dir is not None and not args.no_write:
        image = out_dir / "fixture_cost.png"
        plotted = plot(all_variants, costs, image)
        body = [
            "## Fixture cost (`python benchmarks/fixture_cost.py`)",
            "",
            f"{time.strftime('%Y-%m-%d')}: {context}. Each test logs in with ftplib, runs "
            "NLST and quits. Test phase = first test's setup to last test's teardown "
            "(no interpreter start-up, imports or collection); per-test cost = (test phase - "
            "the same suite's with empty tests) / tests; medians of interleaved rounds. "
            "pytest-localftpserver's tests retry a refused connection (its server may not "
            "listen yet when the fixture returns); the last column counts those refusals.",
            "",
            text,
        ]
        if plotted:
            body += ["", f"![fixture cost]({image.name})"]
        benchlib.write_section(out_dir / "results.md", "fixture-cost", "\n".join(body))
        print(f"\nwrote {out_dir / 'results.md'}" + (f" and {image}" if plotted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
