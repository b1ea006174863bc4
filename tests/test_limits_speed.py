"""Speed limits at the tutorial's four levels; "read" throttles STOR, "write" throttles RETR.

Timing IS the behaviour here, so these tests measure it, with generous bounds: 150 KB at
100 KB/s is 1.5 s nominal; we require at least 1.0 s (room for a first block sent before
the throttle starts counting, and for coarse clocks) and at most 8 s. The exact accuracy
figures belong in ``benchmarks/``.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import pathlib
import time
from typing import Any

import pytest
from conftest import LiveServer, StartServer, backend_factory

RATE = 100_000
SIZE = 150_000
PAYLOAD = os.urandom(SIZE)
NOMINAL = SIZE / RATE
MIN_SECONDS = NOMINAL * 2 / 3
MAX_SECONDS = 8.0
FAST_SECONDS = 1.0  # an unthrottled 150 KB on loopback takes milliseconds

LEVELS = ["server", "server_per_connection", "user", "user_per_connection"]


def start(
    live_server: StartServer,
    tmp_path: pathlib.Path,
    level: str,
    direction: str,
    *,
    backend: str = "pathio",
    rate: float = RATE,
) -> LiveServer:
    from pytest_ftpserver import User

    suffix = "_per_connection" if level.endswith("per_connection") else ""
    key = f"{direction}_speed_limit{suffix}"
    server_options: dict[str, Any] = {}
    user_options: dict[str, Any] = {}
    (server_options if level.startswith("server") else user_options)[key] = rate
    base = tmp_path / "root"
    if backend != "memory":
        base.mkdir(parents=True, exist_ok=True)
    users = [
        User("user", "pass", base_path=base, **user_options),
        User("free", "pass", base_path=base),
    ]
    live = live_server(
        users, base=base, path_io_factory=backend_factory(backend), **server_options
    )
    if backend == "memory":
        live.mkdir("/")
    live.put("/payload.bin", PAYLOAD)
    return live


def timed_download(live: LiveServer, login: str = "user", path: str = "payload.bin") -> float:
    with live.ftp(login, "pass", timeout=30) as ftp:
        buf = io.BytesIO()
        started = time.monotonic()
        ftp.retrbinary(f"RETR {path}", buf.write)
        elapsed = time.monotonic() - started
    assert buf.getvalue() == live.read("/" + path)
    return elapsed


def timed_upload(live: LiveServer, name: str, data: bytes = PAYLOAD, login: str = "user") -> float:
    with live.ftp(login, "pass", timeout=30) as ftp:
        started = time.monotonic()
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))  # returns on the 226
        elapsed = time.monotonic() - started
    assert live.read("/" + name) == data
    return elapsed


@pytest.mark.parametrize("level", LEVELS)
def test_write_limit_throttles_download(
    live_server: StartServer, tmp_path: pathlib.Path, level: str
) -> None:
    live = start(live_server, tmp_path, level, "write")
    elapsed = timed_download(live)
    assert MIN_SECONDS <= elapsed <= MAX_SECONDS, f"{level}: {elapsed:.2f} s"


@pytest.mark.parametrize("level", LEVELS)
def test_read_limit_throttles_upload(
    live_server: StartServer, tmp_path: pathlib.Path, level: str
) -> None:
    live = start(live_server, tmp_path, level, "read")
    elapsed = timed_upload(live, "up.bin")
    assert MIN_SECONDS <= elapsed <= MAX_SECONDS, f"{level}: {elapsed:.2f} s"


@pytest.mark.parametrize("backend", ["async", "memory"])
def test_limits_hold_on_other_backends(
    live_server: StartServer, tmp_path: pathlib.Path, backend: str
) -> None:
    down = start(live_server, tmp_path / "d", "server", "write", backend=backend)
    assert MIN_SECONDS <= timed_download(down) <= MAX_SECONDS
    up = start(live_server, tmp_path / "u", "user_per_connection", "read", backend=backend)
    assert MIN_SECONDS <= timed_upload(up, "up.bin") <= MAX_SECONDS


@pytest.mark.parametrize("level", ["server", "user"])
def test_limits_apply_to_their_direction_only(
    live_server: StartServer, tmp_path: pathlib.Path, level: str
) -> None:
    # a slow "read" limit must not slow downloads, a slow "write" limit not uploads
    reads = start(live_server, tmp_path / "r", level, "read", rate=20_000)
    assert timed_download(reads) < FAST_SECONDS
    writes = start(live_server, tmp_path / "w", level, "write", rate=20_000)
    assert timed_upload(writes, "up.bin") < FAST_SECONDS


def test_listing_is_not_part_of_upload_limit(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = start(live_server, tmp_path, "server", "read", rate=20_000)
    for i in range(200):
        live.put(f"/many/f{i:04d}", b"x")
    with live.ftp() as ftp:
        started = time.monotonic()
        lines: list[str] = []
        ftp.retrlines("LIST many", lines.append)
        assert len(lines) == 200
        assert time.monotonic() - started < FAST_SECONDS


def test_server_global_limit_is_shared_fairly(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = start(live_server, tmp_path, "server", "write")
    half = PAYLOAD[: SIZE // 2]
    live.put("/half.bin", half)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        durations = list(pool.map(lambda _: timed_download(live, path="half.bin"), range(2)))
        wall = time.monotonic() - started
    # two halves through one limit: NOMINAL for the pair, and neither transfer finishes
    # early by starving the other (one after the other, the first would take NOMINAL / 2)
    assert wall >= MIN_SECONDS, wall
    assert min(durations) >= NOMINAL * 0.75, durations


def test_user_global_limit_is_shared_by_that_users_sessions_only(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = start(live_server, tmp_path, "user", "write")
    live.put("/half.bin", PAYLOAD[: SIZE // 2])
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = time.monotonic()
        limited = [pool.submit(timed_download, live, "user", "half.bin") for _ in range(2)]
        free = pool.submit(timed_download, live, "free", "payload.bin")
        free_seconds = free.result(30)
        for future in limited:
            future.result(30)
        wall = time.monotonic() - started
    assert wall >= MIN_SECONDS, wall
    assert free_seconds < FAST_SECONDS, free_seconds


def test_per_connection_limit_is_not_shared(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = start(live_server, tmp_path, "server_per_connection", "write")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        durations = list(pool.map(lambda _: timed_download(live), range(4)))
        wall = time.monotonic() - started
    assert min(durations) >= MIN_SECONDS, durations
    # four connections at 100 KB/s each, in parallel: ~NOMINAL, not 4 x NOMINAL as with a
    # shared limit
    assert wall < NOMINAL * 2.7, wall


def test_upload_limits_of_two_levels_take_the_slowest(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    from pytest_ftpserver import User

    base = tmp_path / "root"
    base.mkdir()
    users = [User("user", "pass", base_path=base, read_speed_limit_per_connection=RATE)]
    live = live_server(users, base=base, read_speed_limit=10 * RATE)
    elapsed = timed_upload(live, "both.bin")
    assert MIN_SECONDS <= elapsed <= MAX_SECONDS, elapsed
