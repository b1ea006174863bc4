#!/usr/bin/env python3
"""Benchmark our FTP server against pyftpdlib and aioftp, each in its own process.

    python benchmarks/run.py [--size-mib N] [--rounds R] [--quick] [--servers ours,...]

Every server runs as a separate process on 127.0.0.1 (ours through ``python -m
pytest_ftpserver``, the peers through ``serve_pyftpdlib.py`` and ``serve_aioftp.py``) and is
driven by one client: Python's ``ftplib`` in this process, reading and writing 1 MiB
blocks. Rounds are interleaved (every round measures every server, in a rotating order) and
the table shows medians. Two sendfile references (``serve_sendfile.py``: a bare socket
that only ``os.sendfile()``s the file, once blocking and once paced in 32 KiB per wake-up)
show what a server could reach with the same client.

The peers come from the package registry into ``benchmarks/.env``, which is made on first
use; ``--quick`` (tiny sizes, for the smoke test) uses the current interpreter instead when
pyftpdlib and aioftp are importable. Results go to ``docs/benchmarks/results.md`` and
``docs/benchmarks/servers.png`` (``--out`` elsewhere, ``--no-write`` nowhere).
"""

from __future__ import annotations

import argparse
import contextlib
import ftplib
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

BLOCK = 1 << 20  # the client's read and write size
MB = 1_000_000  # throughput is reported in MB/s (10**6 bytes per second)
LOGIN, PASSWORD = "bench", "bench"
CLIENT_TIMEOUT = 60.0  # seconds, for every client socket operation
PEERS = ("pyftpdlib", "aioftp")
ALL_SERVERS = ("ours", *PEERS)
BIG_FILE, SMALL_FILE = "big.bin", "one-mib.bin"


# --------------------------------------------------------------------------- parameters


@dataclass
class Params:
    size: int  # bytes of the RETR / STOR file
    rounds: int
    repeats: int  # RETR and STOR transfers per server per round, the best one counts
    logins: int
    parallel: int
    memory_connections: int
    sessions: int
    servers: tuple[str, ...]


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, Params]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, help="RETR/STOR file size (default 256)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    parser.add_argument("--repeats", type=int,
                        help="RETR/STOR transfers per server per round, best counts (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and counts, current interpreter when possible")
    parser.add_argument("--logins", type=int, help="sequential logins (default 300)")
    parser.add_argument("--parallel", type=int, help="parallel 1 MiB downloads (default 200)")
    parser.add_argument("--memory-connections", type=int,
                        help="idle logged-in connections for the RSS figure (default 500)")
    parser.add_argument("--sessions", type=int,
                        help="concurrent logged-in sessions to hold (default 1000)")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS),
                        help="comma-separated subset of: " + ", ".join(ALL_SERVERS))
    parser.add_argument("--no-venv", action="store_true",
                        help="use the current interpreter instead of benchmarks/.env")
    parser.add_argument("--out", type=Path,
                        help="directory for results.md and servers.png "
                             "(default docs/benchmarks; --quick writes only with --out)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--json", type=Path, help="also dump every sample to this file")
    args = parser.parse_args(argv)

    quick = args.quick
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    unknown = sorted(set(servers) - set(ALL_SERVERS))
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")

    def pick(value: int | None, full: int, small: int) -> int:
        chosen = value if value is not None else (small if quick else full)
        if chosen < 1:
            parser.error("sizes and counts must be at least 1")
        return chosen

    memory_connections = pick(args.memory_connections, 500, 20)
    params = Params(
        size=pick(args.size_mib, 256, 4) * (1 << 20),
        rounds=pick(args.rounds, 5, 1),
        repeats=pick(args.repeats, 3, 1),
        logins=pick(args.logins, 300, 20),
        parallel=pick(args.parallel, 200, 10),
        memory_connections=memory_connections,
        sessions=max(memory_connections, pick(args.sessions, 1000, 30)),
        servers=servers,
    )
    return args, params


def wants_current_interpreter(args: argparse.Namespace) -> bool:
    if args.no_venv:
        return True
    if args.quick:
        return all(importlib.util.find_spec(m) is not None for m in ("pyftpdlib", "aioftp"))
    return False


# --------------------------------------------------------------------------- servers


def server_argv(name: str, root: Path) -> list[str]:
    common = ["--root", str(root), "--user", f"{LOGIN}:{PASSWORD}", "--port", "0"]
    if name == "ours":
        return [sys.executable, "-m", "pytest_ftpserver", *common]
    script = benchlib.HERE / f"serve_{name}.py"
    return [sys.executable, str(script), *common]


def make_server(name: str, root: Path, logs: Path, tag: str) -> benchlib.ServerProcess:
    return benchlib.ServerProcess(
        name=name,
        argv=server_argv(name, root),
        log_path=logs / f"{name}-{tag}.log",
        cwd=root.parent,
    )


REFERENCES = {"bare sendfile": "whole", "paced sendfile": "paced"}


def make_reference(label: str, path: Path, logs: Path) -> benchlib.ServerProcess:
    """The RETR references of serve_sendfile.py: no FTP, just sendfile() on a socket."""
    mode = REFERENCES[label]
    return benchlib.ServerProcess(
        name=label,
        argv=[sys.executable, str(benchlib.HERE / "serve_sendfile.py"), "--file", str(path),
              "--mode", mode],
        log_path=logs / f"sendfile-{mode}.log",
    )


# --------------------------------------------------------------------------- the client


def connect(address: tuple[str, int]) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=CLIENT_TIMEOUT)
    try:
        ftp.connect(address[0], address[1])
        ftp.login(LOGIN, PASSWORD)
    except BaseException:
        ftp.close()
        raise
    return ftp


def quit_quietly(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (OSError, EOFError, ftplib.Error):
        ftp.close()


def drain(conn: socket.socket, sink: Callable[[bytes], object]) -> int:
    """Read a data connection to its end in 1 MiB reads, as ftplib's retrbinary does."""
    total = 0
    while data := conn.recv(BLOCK):
        total += len(data)
        sink(data)
    return total


def ignore(data: bytes) -> None:
    return None


def retr_mb_s(address: tuple[str, int], size: int) -> float:
    ftp = connect(address)
    try:
        ftp.voidcmd("TYPE I")
        start = time.perf_counter()
        with ftp.transfercmd(f"RETR {BIG_FILE}") as conn:
            received = drain(conn, ignore)
        ftp.voidresp()
        elapsed = time.perf_counter() - start
    finally:
        quit_quietly(ftp)
    if received != size:
        raise RuntimeError(f"RETR got {received} bytes, expected {size}")
    return size / MB / elapsed


def bare_sendfile_mb_s(address: tuple[str, int], size: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as conn:
        received = drain(conn, ignore)
    elapsed = time.perf_counter() - start
    if received != size:
        raise RuntimeError(f"bare sendfile got {received} bytes, expected {size}")
    return size / MB / elapsed


class RepeatingSource:
    """A file-like object yielding ``size`` bytes made of one random 1 MiB block."""

    def __init__(self, block: bytes, size: int) -> None:
        self.block, self.left = block, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        self.left -= n
        return self.block if n == len(self.block) else self.block[:n]


def stor_mb_s(address: tuple[str, int], size: int, block: bytes, target: Path) -> float:
    ftp = connect(address)
    try:
        start = time.perf_counter()
        ftp.storbinary(f"STOR {target.name}", RepeatingSource(block, size), blocksize=BLOCK)
        elapsed = time.perf_counter() - start
    finally:
        quit_quietly(ftp)
    try:
        stored = target.stat().st_size
    finally:
        target.unlink(missing_ok=True)
    if stored != size:
        raise RuntimeError(f"STOR left {stored} bytes, expected {size}")
    return size / MB / elapsed


def sequential_logins_s(address: tuple[str, int], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        ftp = connect(address)
        ftp.quit()
    return time.perf_counter() - start


def parallel_downloads_s(address: tuple[str, int], count: int, expected: bytes) -> float:
    """``count`` threads log in at once, each downloads the 1 MiB file and checks it."""
    barrier = threading.Barrier(count + 1, timeout=CLIENT_TIMEOUT)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            barrier.wait()
            ftp = connect(address)
            try:
                chunks: list[bytes] = []
                ftp.retrbinary(f"RETR {SMALL_FILE}", chunks.append, blocksize=BLOCK)
                if b"".join(chunks) != expected:
                    raise RuntimeError("downloaded contents differ")
            finally:
                quit_quietly(ftp)
        except BaseException as exc:  # reported below, the thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    deadline = time.monotonic() + 4 * CLIENT_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("parallel clients did not finish in time")
    if errors:
        raise RuntimeError(f"{len(errors)}/{count} parallel clients failed: {errors[0]!r}")
    return elapsed


@dataclass
class SessionResult:
    bytes_per_connection: float
    held: int


def idle_sessions(server: benchlib.ServerProcess, memory_connections: int,
                  sessions: int) -> SessionResult:
    """On a fresh server: RSS growth per idle logged-in session, then how many it holds."""
    address = (server.host, server.port)
    quit_quietly(connect(address))  # warm up the login path before the baseline
    time.sleep(0.3)
    baseline = benchlib.rss_bytes(server.pid)
    open_sessions: list[ftplib.FTP] = []
    per_connection = float("nan")
    try:
        for _ in range(sessions):
            try:
                open_sessions.append(connect(address))
            except (OSError, EOFError, ftplib.Error):
                break
            if len(open_sessions) == memory_connections:
                time.sleep(0.3)
                grown = benchlib.rss_bytes(server.pid) - baseline
                per_connection = grown / memory_connections
        held = 0
        for ftp in open_sessions:
            try:
                ftp.voidcmd("PWD")  # aioftp has no NOOP
                held += 1
            except (OSError, EOFError, ftplib.Error):
                pass
    finally:
        for ftp in open_sessions:
            ftp.close()
    return SessionResult(per_connection, held)


# --------------------------------------------------------------------------- the run


@dataclass
class Metric:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    target: float | None  # ours / best peer must be >= (higher) or <= (lower) this
    values: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Server CPU milliseconds per operation, every sample: unlike wall time, barely moved
    # by whatever else the machine runs.
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    operations: int = 1  # what one sample counts, to make CPU time per operation

    def add(self, server: str, value: float) -> None:
        self.values.setdefault(server, []).append(value)

    def cpu_result(self, server: str) -> float | None:
        values = self.cpu_ms.get(server)
        if not values or server in self.errors:
            return None
        return benchlib.median(values)

    def fail(self, server: str, exc: BaseException) -> None:
        self.errors.setdefault(server, f"{type(exc).__name__}: {exc}")

    def result(self, server: str) -> float | None:
        values = self.values.get(server)
        if not values or server in self.errors:
            return None
        return benchlib.median(values)


@contextlib.contextmanager
def workspace(params: Params) -> Iterator[tuple[Path, Path, bytes]]:
    base = Path(tempfile.mkdtemp(prefix="ftp-bench-"))
    try:
        root, logs = base / "root", base / "logs"
        root.mkdir()
        logs.mkdir()
        block = os.urandom(BLOCK)
        with open(root / BIG_FILE, "wb") as big:
            left = params.size
            while left > 0:
                left -= big.write(block[: min(left, BLOCK)])
        small = os.urandom(1 << 20)
        (root / SMALL_FILE).write_bytes(small)
        yield root, logs, small
    finally:
        shutil.rmtree(base, ignore_errors=True)


def rotated(items: Sequence[str], by: int) -> list[str]:
    if not items:
        return []
    by %= len(items)
    return [*items[by:], *items[:by]]


def measure(params: Params, progress: Callable[[str], None]) -> dict[str, Metric]:
    size_mib = params.size >> 20
    metrics = {
        "retr": Metric("retr", f"RETR {size_mib} MiB", "MB/s", True, 1.0),
        "fraction": Metric("fraction", "RETR / best sendfile reference", "fraction", True,
                           None),
        "stor": Metric("stor", f"STOR {size_mib} MiB", "MB/s", True, 1.2),
        "logins": Metric("logins", f"{params.logins} sequential connect+login+quit", "s",
                         False, 1.0),
        "parallel": Metric("parallel", f"{params.parallel} parallel logins + 1 MiB RETR",
                           "s", False, 1.0),
        "memory": Metric("memory", "RSS per idle logged-in connection", "KiB", False, 1.5),
        "sessions": Metric("sessions", f"concurrent logged-in sessions held (of "
                           f"{params.sessions})", "sessions", True, 1.0),
    }
    metrics["logins"].operations = params.logins
    metrics["parallel"].operations = params.parallel
    with workspace(params) as (root, logs, small):
        upload_block = os.urandom(BLOCK)
        live: dict[str, benchlib.ServerProcess] = {}
        references: dict[str, benchlib.ServerProcess] = {}
        try:
            for label in REFERENCES:
                try:
                    references[label] = make_reference(label, root / BIG_FILE, logs).start()
                except benchlib.ServerStartError as exc:
                    metrics["retr"].fail(label, exc)
            for name in params.servers:
                progress(f"starting {name}")
                try:
                    live[name] = make_server(name, root, logs, "main").start()
                except benchlib.ServerStartError as exc:
                    for metric in metrics.values():
                        metric.fail(name, exc)
            progress("warming up")
            warm_up(live, references, params.size)
            for round_no in range(params.rounds):
                order = rotated([n for n in params.servers if n in live], round_no)
                progress(f"round {round_no + 1}/{params.rounds}: {', '.join(order)}")
                run_round(params, metrics, order, live, references, root, logs, small,
                          upload_block, round_no)
        finally:
            for server in [*live.values(), *references.values()]:
                server.stop()
    return metrics


def best_of(metric: Metric, names: Sequence[str], repeats: int,
            measure_one: Callable[[str], float],
            pids: dict[str, int] | None = None) -> dict[str, float]:
    """Measure every server ``repeats`` times, interleaved; record each one's best.

    For servers in ``pids``, also record the server's CPU time per operation.
    """
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name in names:
            if name in metric.errors:
                continue
            pid = (pids or {}).get(name)
            try:
                before = benchlib.cpu_seconds(pid) if pid else 0.0
                samples.setdefault(name, []).append(measure_one(name))
                if pid:
                    used = benchlib.cpu_seconds(pid) - before
                    metric.cpu_ms.setdefault(name, []).append(used * 1000 / metric.operations)
            except Exception as exc:
                metric.fail(name, exc)
    best = {name: max(values) if metric.higher_is_better else min(values)
            for name, values in samples.items() if values and name not in metric.errors}
    for name, value in best.items():
        metric.add(name, value)
    return best


def warm_up(live: dict[str, benchlib.ServerProcess],
            references: dict[str, benchlib.ServerProcess], size: int) -> None:
    """One unrecorded RETR and a few logins per server: page cache, imports, allocator."""
    for reference in references.values():
        with contextlib.suppress(Exception):
            bare_sendfile_mb_s((reference.host, reference.port), size)
    for server in live.values():
        address = (server.host, server.port)
        with contextlib.suppress(Exception):
            retr_mb_s(address, size)
            sequential_logins_s(address, 5)


def run_round(params: Params, metrics: dict[str, Metric], order: list[str],
              live: dict[str, benchlib.ServerProcess],
              references: dict[str, benchlib.ServerProcess], root: Path,
              logs: Path, small: bytes, upload_block: bytes, round_no: int) -> None:
    addresses = {name: (live[name].host, live[name].port) for name in order}
    pids = {name: live[name].pid for name in order}

    def retr(name: str) -> float:
        if name in references:
            reference = references[name]
            return bare_sendfile_mb_s((reference.host, reference.port), params.size)
        return retr_mb_s(addresses[name], params.size)

    def stor(name: str) -> float:
        target = root / f"upload-{name}-{round_no}.bin"
        return stor_mb_s(addresses[name], params.size, upload_block, target)

    def logins(name: str) -> float:
        return sequential_logins_s(addresses[name], params.logins)

    def parallel(name: str) -> float:
        return parallel_downloads_s(addresses[name], params.parallel, small)

    retr_best = best_of(metrics["retr"], [*references, *order], params.repeats, retr, pids)
    limit = max((retr_best[label] for label in references if label in retr_best), default=None)
    for name in order:
        if limit and name in retr_best:
            metrics["fraction"].add(name, retr_best[name] / limit)
    best_of(metrics["stor"], order, params.repeats, stor, pids)
    best_of(metrics["logins"], order, 1, logins, pids)
    best_of(metrics["parallel"], order, 1, parallel, pids)
    for name in order:
        try:
            server = make_server(name, root, logs, f"sessions-{round_no}")
            with benchlib.running(server):
                result = idle_sessions(server, params.memory_connections, params.sessions)
        except Exception as exc:
            metrics["memory"].fail(name, exc)
            metrics["sessions"].fail(name, exc)
            continue
        metrics["memory"].add(name, result.bytes_per_connection / 1024)
        metrics["sessions"].add(name, result.held)


# --------------------------------------------------------------------------- reporting


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "sessions":
        return f"{value:.0f}"
    if unit == "fraction":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:.3f}" if value < 10 else f"{value:,.1f}"
    return f"{value:,.1f}"


def paired_ratio(metric: Metric, servers: Sequence[str]) -> tuple[float | None, str]:
    """Ours / the best peer (best by median): the median of the per-round ratios, and
    their range.

    Every round measures every server back to back, so a slow spell of the machine (on
    this shared 2-core host, wall times move 10-30% between rounds) hits both sides of
    a round's ratio alike; a ratio of the two medians would mix rounds and keep that
    noise. Falls back to the ratio of medians when a failure left the rounds unpaired.
    """
    ours = metric.values.get("ours") if "ours" in servers else None
    if not ours or "ours" in metric.errors:
        return None, ""
    peers = {p: metric.result(p) for p in PEERS if p in servers}
    ranked = [(v, p) for p, v in peers.items() if v is not None]
    if not ranked:
        return None, ""
    best_value, best = (max if metric.higher_is_better else min)(ranked)
    if not best_value:  # a tiny --quick run can measure 0 (no RSS growth, say)
        return None, ""
    theirs = metric.values[best]
    if len(theirs) != len(ours) or not all(theirs):
        ours_median = metric.result("ours")
        return (None if ours_median is None else ours_median / best_value), "unpaired"
    ratios = [mine / other for mine, other in zip(ours, theirs, strict=True)]
    return benchlib.median(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}"


def table_rows(metrics: dict[str, Metric], params: Params) -> tuple[list[str], list[list[str]]]:
    headers = ["metric", "unit", *params.servers, *REFERENCES, "ours / best peer",
               "range over rounds", "target", "met"]
    rows: list[list[str]] = []
    for metric in metrics.values():
        ours = metric.result("ours") if "ours" in params.servers else None
        row = [metric.title, metric.unit + (" ↑" if metric.higher_is_better else " ↓")]
        row += [fmt(metric.result(name), metric.unit) for name in params.servers]
        row += [fmt(metric.result(label), metric.unit) if metric.key == "retr" else ""
                for label in REFERENCES]
        if metric.key == "fraction":
            row += ["", "", "ours ≥ 0.80",
                    "n/a" if ours is None else ("yes" if round(ours, 2) >= 0.8 else "no")]
        elif metric.key == "sessions":
            row += ["", "", f"all {params.sessions}",
                    "n/a" if ours is None else ("yes" if ours >= params.sessions else "no")]
        else:
            ratio, spread = paired_ratio(metric, params.servers)
            assert metric.target is not None
            sign = "≥" if metric.higher_is_better else "≤"
            shown = None if ratio is None else round(ratio, 2)  # judge what the table shows
            met = "n/a" if shown is None else (
                "yes" if (shown >= metric.target if metric.higher_is_better
                          else shown <= metric.target) else "no")
            row += [fmt(ratio, "fraction"), spread, f"{sign} {metric.target:.2f}", met]
        rows.append(row)
    return headers, rows


CPU_LABELS = {
    "retr": "RETR, per transfer",
    "stor": "STOR, per transfer",
    "logins": "connect+login+quit, per session",
    "parallel": "parallel login + 1 MiB RETR, per client",
}


def cpu_table(metrics: dict[str, Metric], params: Params) -> str:
    """Server CPU milliseconds per operation (medians): a check on noisy wall times."""
    headers = ["server CPU ms", *params.servers, "ours / leanest peer"]
    rows = []
    for key, label in CPU_LABELS.items():
        metric = metrics[key]
        ours = metric.cpu_result("ours") if "ours" in params.servers else None
        peers = [v for p in PEERS if p in params.servers
                 if (v := metric.cpu_result(p)) is not None]
        ratio = ours / min(peers) if ours is not None and peers and min(peers) > 0 else None
        leanest = min(((v, p) for p in PEERS if p in params.servers
                       if (v := metric.cpu_result(p)) is not None), default=None)
        mine = metric.cpu_ms.get("ours") if ours is not None else None
        if leanest is not None and mine:
            theirs = metric.cpu_ms[leanest[1]]
            if len(theirs) == len(mine) and all(theirs):  # paired, as in paired_ratio
                ratio = benchlib.median([a / b for a, b in zip(mine, theirs, strict=True)])
        cells = [fmt(metric.cpu_result(name), "ms") for name in params.servers]
        rows.append([label, *cells, fmt(ratio, "fraction")])
    return benchlib.markdown_table(headers, rows)


def error_lines(metrics: dict[str, Metric]) -> list[str]:
    lines = []
    for metric in metrics.values():
        for server, message in metric.errors.items():
            lines.append(f"- {metric.title} / {server}: {message.splitlines()[0][:300]}")
    return lines


def plot(metrics: dict[str, Metric], params: Params, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colours = {"ours": "#1b7837", "pyftpdlib": "#2166ac", "aioftp": "#b2182b",
               "bare sendfile": "#7f7f7f", "paced sendfile": "#bfbfbf"}
    shown = [m for m in metrics.values() if m.key != "fraction"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, metric in zip(axes.flat, shown, strict=False):
        names = list(params.servers) + (list(REFERENCES) if metric.key == "retr" else [])
        values = [metric.result(n) for n in names]
        labels = [n.replace(" ", "\n") for n in names]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(labels, heights, color=[colours.get(n, "#999999") for n in names])
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(fmt(value, metric.unit), (bar.get_x() + bar.get_width() / 2,
                        bar.get_height()), ha="center", va="bottom", fontsize=8)
        better = "higher" if metric.higher_is_better else "lower"
        ax.set_title(f"{metric.title}\n({metric.unit}, {better} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.margins(y=0.15)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(f"FTP servers on loopback, ftplib client, medians of {params.rounds} "
                 f"interleaved rounds", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def versions_line() -> str:
    names = ("pytest-ftpserver", "pyftpdlib", "aioftp")
    return ", ".join(f"{n} {benchlib.package_version(n)}" for n in names)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, params = parse_args(argv)
    if not wants_current_interpreter(args):
        benchlib.ensure_env(Path(__file__).resolve(), argv)
    benchlib.raise_fd_limit()

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    sockets_note = (benchlib.wait_for_time_wait() if not args.quick
                    else f"{benchlib.time_wait_sockets()} sockets in TIME_WAIT at start")
    started = time.monotonic()
    metrics = measure(params, progress)
    headers, rows = table_rows(metrics, params)
    table = benchlib.markdown_table(headers, rows)
    cpu = cpu_table(metrics, params)
    errors = error_lines(metrics)
    context = (
        f"{benchlib.machine_line()}; {versions_line()}; commit {benchlib.git_revision()}; "
        f"file {params.size >> 20} MiB, {params.rounds} round(s), "
        f"{time.monotonic() - started:.0f} s; {sockets_note}"
    )
    print()
    print(table)
    print()
    print(cpu)
    print()
    print(context)
    if errors:
        print("\nerrors:\n" + "\n".join(errors))

    if args.json is not None:
        dump = {
            "params": asdict(params),
            "context": context,
            "samples": {k: m.values for k, m in metrics.items()},
            "server_cpu_ms": {k: m.cpu_ms for k, m in metrics.items() if m.cpu_ms},
            "errors": {k: m.errors for k, m in metrics.items() if m.errors},
        }
        args.json.write_text(json.dumps(dump, indent=1))

    out_dir: Path | None = args.out
    if out_dir is None and not args.quick:
        out_dir = benchlib.DOCS_DIR
    if out_dir is not None and not args.no_write:
        image = out_dir / "servers.png"
        plotted = plot(metrics, params, image)
        body = [
            "## Servers (`python benchmarks/run.py`)",
            "",
            f"{time.strftime('%Y-%m-%d')}: {context}. Client: ftplib in the harness process, "
            "1 MiB blocks, passive mode; each server a separate process on 127.0.0.1. "
            "Medians of interleaved rounds; ↑ higher is better, ↓ lower is better. "
            "Each round measures every server back to back: \"ours / best peer\" is the "
            "median of the rounds' own ratios (a slow spell of the machine hits both sides "
            "of a round alike), and the range shows how far single rounds spread. "
            "MB = 10^6 bytes.",
            "",
            table,
            "",
            "Server CPU time per operation (medians, and the median of paired samples' ratios; "
            "read from /proc, so it hardly depends "
            "on what else the machine is doing, unlike the wall times above):",
            "",
            cpu,
        ]
        if errors:
            body += ["", "Errors:", "", *errors]
        if plotted:
            body += ["", f"![servers]({image.name})"]
        benchlib.write_section(out_dir / "results.md", "servers", "\n".join(body))
        print(f"\nwrote {out_dir / 'results.md'}" + (f" and {image}" if plotted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
