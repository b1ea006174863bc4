"""Speed-limit accuracy: how long a transfer takes under each of the four limit levels.

    python benchmarks/throttle_accuracy.py [--size-mib 2] [--rate-mib 1] [--out FILE]

For every level (server global, server per connection, user global, user per connection),
every direction ("read" limits throttle uploads, "write" limits downloads) and every backend
(PathIO, AsyncPathIO, MemoryPathIO), one ftplib client moves ``size`` bytes at a limit of
``rate`` bytes per second; the table gives the time taken against the ideal ``size / rate``.
A last block runs two clients at once under a shared global limit, to show the share is
fair. The target of the limits issue: every row within 15% of the ideal.
"""

from __future__ import annotations

import argparse
import asyncio
import ftplib
import io
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from pytest_ftpserver import AsyncPathIO, MemoryPathIO, PathIO, Server, User

BACKENDS: dict[str, Callable[[], Any]] = {
    "PathIO": PathIO,
    "AsyncPathIO": AsyncPathIO,
    "MemoryPathIO": MemoryPathIO,
}
LEVELS = ("server", "server per connection", "user", "user per connection")


def _options(level: str, direction: str, rate: int) -> tuple[dict[str, int], dict[str, int]]:
    """Server and User keyword arguments that put the limit at ``level``."""
    suffix = "_per_connection" if level.endswith("per connection") else ""
    key = f"{direction}_speed_limit{suffix}"
    return ({key: rate}, {}) if level.startswith("server") else ({}, {key: rate})


def _transfer(address: tuple[str, int], direction: str, payload: bytes, name: str) -> float:
    with ftplib.FTP() as ftp:
        ftp.connect(*address, timeout=60)
        ftp.login("bench", "bench")
        started = time.perf_counter()
        if direction == "read":  # the server reads: an upload
            ftp.storbinary(f"STOR {name}", io.BytesIO(payload), blocksize=1 << 16)
        else:
            sink = io.BytesIO()
            ftp.retrbinary(f"RETR {name}", sink.write, blocksize=1 << 16)
            assert sink.getvalue() == payload, "download corrupted"
        return time.perf_counter() - started


async def _measure(
    backend: str, level: str, direction: str, size: int, rate: int, clients: int
) -> float:
    root = pathlib.Path(tempfile.mkdtemp(prefix="throttle-"))
    server_kw, user_kw = _options(level, direction, rate)
    user = User("bench", "bench", base_path=root, **user_kw)
    payload = bytes(range(256)) * (size // 256)
    async with Server([user], path_io_factory=BACKENDS[backend], **server_kw) as server:
        for n in range(clients):
            await server.path_io.write_bytes(root / f"f{n}.bin", payload)
        jobs = [
            asyncio.to_thread(_transfer, server.address, direction, payload, f"f{n}.bin")
            for n in range(clients)
        ]
        durations = await asyncio.gather(*jobs)
    return max(durations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=2.0)
    parser.add_argument("--rate-mib", type=float, default=1.0)
    parser.add_argument("--out", type=pathlib.Path, default=None, help="also write the table")
    args = parser.parse_args(argv)
    size = int(args.size_mib * 1024 * 1024)
    rate = int(args.rate_mib * 1024 * 1024)
    ideal = size / rate
    rows = [
        "| backend | level | direction | clients | seconds | ideal | error | within 15% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    worst = 0.0
    cases = [(b, lvl, d, 1) for b in BACKENDS for lvl in LEVELS for d in ("read", "write")]
    cases += [("PathIO", "server", d, 2) for d in ("read", "write")]
    for backend, level, direction, clients in cases:
        seconds = asyncio.run(_measure(backend, level, direction, size, rate, clients))
        # Two clients sharing one global limit each take twice as long.
        expected = ideal * clients if not level.endswith("connection") else ideal
        error = (seconds - expected) / expected
        worst = max(worst, abs(error))
        rows.append(
            f"| {backend} | {level} | {direction} | {clients} | {seconds:.2f} | "
            f"{expected:.2f} | {error:+.1%} | {'yes' if abs(error) <= 0.15 else 'no'} |"
        )
        print(rows[-1], flush=True)
    header = (
        f"Speed limits: {args.size_mib:g} MiB at {args.rate_mib:g} MiB/s, ftplib client, "
        f"Python {sys.version.split()[0]}; worst error {worst:.1%}"
    )
    table = "\n".join([header, "", *rows])
    print()
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
