"""The benchmark scripts still run end to end (tiny sizes; never asserts on timings).

``benchmarks/run.py --quick`` uses the current interpreter when pyftpdlib and aioftp are
importable (they are in the project's test environment), so no venv is made here.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
SERVERS = ("ours", "pyftpdlib", "aioftp")
NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")


def parse_table(output: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The first markdown table in ``output``: its header and rows keyed by first cell."""
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith("|"):
            if not line.startswith("|-"):  # the rule under the header
                lines.append(line)
        elif lines:
            break
    assert lines, f"no table printed:\n{output}"
    split = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    header, body = split[0], split[1:]
    return header, {row[0]: dict(zip(header, row, strict=True)) for row in body}


def run_script(args: list[str], timeout: float) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("pyftpdlib", "aioftp")),
    reason="the peers (pyftpdlib, aioftp) are not installed",
)
def test_server_harness_prints_every_row(tmp_path: Path) -> None:
    stdout = run_script(
        [
            str(BENCHMARKS / "run.py"), "--quick", "--size-mib", "1", "--rounds", "1",
            "--repeats", "1", "--logins", "5", "--parallel", "5",
            "--memory-connections", "5", "--sessions", "10", "--out", str(tmp_path),
        ],
        timeout=120,
    )
    header, rows = parse_table(stdout)
    for column in (*SERVERS, "bare sendfile", "paced sendfile", "ours / best peer"):
        assert column in header
    expected = {
        "RETR 1 MiB": (*SERVERS, "bare sendfile", "paced sendfile", "ours / best peer"),
        "RETR / best sendfile reference": SERVERS,
        "STOR 1 MiB": (*SERVERS, "ours / best peer"),
        "5 sequential connect+login+quit": (*SERVERS, "ours / best peer"),
        "5 parallel logins + 1 MiB RETR": (*SERVERS, "ours / best peer"),
        "RSS per idle logged-in connection": SERVERS,
        "concurrent logged-in sessions held (of 10)": SERVERS,
    }
    assert set(rows) == set(expected)
    for title, columns in expected.items():
        for column in columns:
            assert NUMBER.match(rows[title][column]), (title, column, rows[title])
    assert rows["concurrent logged-in sessions held (of 10)"]["ours"] == "10"
    assert "errors:" not in stdout
    assert "| server CPU ms" in stdout
    results = (tmp_path / "results.md").read_text()
    assert "<!-- begin servers -->" in results
    assert "RETR 1 MiB" in results


def test_fixture_cost_prints_our_row(tmp_path: Path) -> None:
    # pytest-localftpserver lives only in benchmarks/.env; its rows may say n/a here.
    stdout = run_script(
        [str(BENCHMARKS / "fixture_cost.py"), "--no-venv", "--tests", "3", "--rounds", "1",
         "--out", str(tmp_path)],
        timeout=120,
    )
    _, rows = parse_table(stdout)
    ours = next(row for title, row in rows.items() if title.startswith("pytest-ftpserver"))
    assert NUMBER.match(ours["per-test cost (ms)"]), ours
    assert any(title.startswith("pytest-localftpserver") for title in rows)
    assert "<!-- begin fixture-cost -->" in (tmp_path / "results.md").read_text()
