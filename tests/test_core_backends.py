"""The three storage backends behind one interface, driven over the wire."""

from __future__ import annotations

import calendar
import concurrent.futures
import hashlib
import io
import os
import pathlib
import time

import pytest
from conftest import BACKEND_NAMES, LiveServer, StartServer, trickled_upload

PAYLOAD = os.urandom(300_000)


@pytest.fixture(params=BACKEND_NAMES)
def srv(request: pytest.FixtureRequest, live_server: StartServer) -> LiveServer:
    live = live_server(backend=request.param)
    live.put("/seed/hello.txt", b"hello\n")
    return live


def download(live: LiveServer, path: str) -> bytes:
    with live.ftp() as ftp:
        buf = io.BytesIO()
        ftp.retrbinary(f"RETR {path}", buf.write)
        return buf.getvalue()


def test_upload_download_round_trip(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("STOR blob.bin", io.BytesIO(PAYLOAD))
        assert ftp.size("blob.bin") == len(PAYLOAD)
    assert srv.read("/blob.bin") == PAYLOAD
    assert download(srv, "blob.bin") == PAYLOAD
    assert download(srv, "/seed/hello.txt") == b"hello\n"


def test_listing(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.mkd("d1")
        ftp.storbinary("STOR d1/a", io.BytesIO(b"a" * 10))
        ftp.storbinary("STOR d1/b", io.BytesIO(b"b" * 20))
        assert sorted(ftp.nlst("d1")) in (["a", "b"], ["d1/a", "d1/b"])
        lines: list[str] = []
        ftp.retrlines("LIST d1", lines.append)
        sizes = {line.split()[-1]: int(line.split()[4]) for line in lines}
        assert sizes == {"a": 10, "b": 20}
        facts = dict(ftp.mlsd("/"))
        assert facts["d1"]["type"] == "dir"
        assert facts["seed"]["type"] == "dir"
    assert srv.names("/d1") == ["a", "b"]


def test_directory_operations(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.mkd("x")
        ftp.mkd("x/y")
        ftp.storbinary("STOR x/y/f", io.BytesIO(b"f"))
        ftp.rename("x/y/f", "x/g")
        ftp.rename("x/y", "z")
        ftp.delete("x/g")
        ftp.rmd("x")
        ftp.rmd("z")
    assert srv.names("/") == ["seed"]


def test_append_and_resume(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("STOR r.bin", io.BytesIO(PAYLOAD[:1000]))
        ftp.storbinary("APPE r.bin", io.BytesIO(PAYLOAD[1000:2000]))
        ftp.storbinary("STOR r.bin", io.BytesIO(PAYLOAD[2000:3000]), rest=2000)
        buf = io.BytesIO()
        ftp.retrbinary("RETR r.bin", buf.write, rest=500)
    assert srv.read("/r.bin") == PAYLOAD[:3000]
    assert buf.getvalue() == PAYLOAD[500:3000]


def test_modification_time_updates_on_write(srv: LiveServer) -> None:
    old = calendar.timegm((2000, 1, 1, 0, 0, 0))
    srv.set_mtime("/seed/hello.txt", old)
    with srv.ftp() as ftp:
        assert ftp.sendcmd("MDTM seed/hello.txt") == "213 20000101000000"
        ftp.storbinary("APPE seed/hello.txt", io.BytesIO(b"more"))
        stamp = ftp.sendcmd("MDTM seed/hello.txt")[4:18]
    assert abs(calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")) - time.time()) < 120


def test_concurrent_readers_get_intact_content(srv: LiveServer) -> None:
    srv.put("/shared.bin", PAYLOAD)
    expected = hashlib.sha256(PAYLOAD).hexdigest()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: download(srv, "shared.bin"), range(8)))
    assert [hashlib.sha256(r).hexdigest() for r in results] == [expected] * 8


def test_concurrent_writers_to_distinct_files(srv: LiveServer) -> None:
    blobs = {f"w{i}.bin": os.urandom(50_000 + i) for i in range(6)}

    def upload(name: str) -> None:
        with srv.ftp() as ftp:
            ftp.storbinary(f"STOR {name}", io.BytesIO(blobs[name]))

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(upload, blobs))
    for name, blob in blobs.items():
        assert srv.read("/" + name) == blob


def test_reader_during_overwrite_sees_old_or_new_whole(srv: LiveServer) -> None:
    old, new = b"O" * 200_000, b"N" * 150_000
    srv.put("/flip.bin", old)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(download, srv, "flip.bin") for _ in range(3)]

        def upload() -> None:
            with srv.ftp() as ftp:
                ftp.storbinary("STOR flip.bin", io.BytesIO(new))

        writer = pool.submit(upload)
        writer.result(30)
        for reader in readers:
            got = reader.result(30)
            # a reader sees bytes of one version or the other, never garbage
            assert set(got) <= {ord("O"), ord("N")}
    assert srv.read("/flip.bin") == new


def test_memory_backend_is_per_server(live_server: StartServer, tmp_path: pathlib.Path) -> None:
    first = live_server(backend="memory")
    second = live_server(backend="memory")
    first.put("/only-here.txt", b"1")
    assert first.exists("/only-here.txt")
    assert not second.exists("/only-here.txt")
    assert not (tmp_path / "root" / "only-here.txt").exists()


def test_memory_backend_writes_nothing_to_disk(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = live_server(backend="memory")
    with live.ftp() as ftp:
        ftp.mkd("m")
        ftp.storbinary("STOR m/x", io.BytesIO(b"x"))
    assert live.read("/m/x") == b"x"
    assert not any(tmp_path.rglob("x"))


def test_user_subclass_of_a_backend_is_used(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    from pytest_ftpserver import MemoryPathIO

    opened: list[str] = []

    class RecordingMemory(MemoryPathIO):  # type: ignore[misc]
        async def open_read(self, path: pathlib.Path, offset: int = 0) -> object:
            opened.append(path.name)
            return await super().open_read(path, offset=offset)

    live = live_server(backend="memory", path_io_factory=RecordingMemory)
    live.put("/r.txt", b"r")
    assert download(live, "r.txt") == b"r"
    assert "r.txt" in opened


def test_large_transfer_integrity(srv: LiveServer) -> None:
    blob = os.urandom(8 * 1024 * 1024 + 17)
    digest = hashlib.sha256(blob).hexdigest()
    with srv.ftp(timeout=30) as ftp:
        ftp.storbinary("STOR large.bin", io.BytesIO(blob), blocksize=1 << 20)
        received = hashlib.sha256()
        ftp.retrbinary("RETR large.bin", received.update, blocksize=1 << 20)
    assert received.hexdigest() == digest
    assert hashlib.sha256(srv.read("/large.bin")).hexdigest() == digest


def test_trickled_upload_is_stored_exactly(srv: LiveServer) -> None:
    sent = trickled_upload(srv, "trickle.bin")
    assert srv.read("/trickle.bin") == sent
