"""aioftp's client against the core server, both in the same event loop."""

from __future__ import annotations

import asyncio
import os
import pathlib
from typing import Any

import pytest
from conftest import BACKEND_NAMES, backend_factory, serve

aioftp = pytest.importorskip("aioftp")

pytestmark = pytest.mark.asyncio

PAYLOAD = os.urandom(250_000)


def users(base: pathlib.Path) -> list[Any]:
    from pytest_ftpserver import User

    return [User("user", "pass", base_path=base)]


async def seed(server: Any, base: pathlib.Path, rel: str, data: bytes) -> None:
    path = base / rel
    await server.path_io.mkdir(path.parent, parents=True, exist_ok=True)
    writer = await server.path_io.open_write(path)
    await writer.write(data)
    await writer.close()


async def fetch(server: Any, base: pathlib.Path, rel: str) -> bytes:
    reader = await server.path_io.open_read(base / rel)
    chunks = []
    while chunk := await reader.read(1 << 20):
        chunks.append(chunk)
    await reader.close()
    return b"".join(chunks)


@pytest.fixture
def base(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_upload_download_list(
    base: pathlib.Path, tmp_path: pathlib.Path, backend: str
) -> None:
    local = tmp_path / "local.bin"
    local.write_bytes(PAYLOAD)
    async with serve(users(base), path_io_factory=backend_factory(backend)) as server:
        if backend == "memory":
            await server.path_io.mkdir(base, parents=True, exist_ok=True)
        host, port = server.address[:2]
        async with aioftp.Client.context(host, port, "user", "pass") as client:
            await client.make_directory("up")
            await client.upload(local, "up/remote.bin", write_into=True)
            await client.download("up/remote.bin", tmp_path / "back.bin", write_into=True)
            listing = await client.list("up")
            stat = await client.stat("up/remote.bin")
            assert await client.exists("up/remote.bin")
            assert await client.is_dir("up")
            assert await client.is_file("up/remote.bin")
        assert await fetch(server, base, "up/remote.bin") == PAYLOAD
    assert (tmp_path / "back.bin").read_bytes() == PAYLOAD
    assert [(p.name, info["type"]) for p, info in listing] == [("remote.bin", "file")]
    assert int(stat["size"]) == len(PAYLOAD)


async def test_streams_and_navigation(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        await seed(server, base, "dir/seed.txt", b"seed")
        async with aioftp.Client.context(*server.address[:2], "user", "pass") as client:
            assert str(await client.get_current_directory()) == "/"
            await client.change_directory("dir")
            assert str(await client.get_current_directory()) == "/dir"
            async with client.upload_stream("streamed.bin") as stream:
                for i in range(0, len(PAYLOAD), 50_000):
                    await stream.write(PAYLOAD[i : i + 50_000])
            async with client.append_stream("streamed.bin") as stream:
                await stream.write(b"tail")
            got = b""
            async with client.download_stream("streamed.bin") as stream:
                async for block in stream.iter_by_block():
                    got += block
            await client.rename("seed.txt", "renamed.txt")
            await client.remove("renamed.txt")
            names = sorted(p.name for p, _ in await client.list())
    assert got == PAYLOAD + b"tail"
    assert names == ["streamed.bin"]


async def test_recursive_list_and_remove(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        for rel in ("t/a", "t/b/c", "t/b/d/e"):
            await seed(server, base, rel, rel.encode())
        async with aioftp.Client.context(*server.address[:2], "user", "pass") as client:
            found = sorted(str(p) for p, _ in await client.list("t", recursive=True))
            await client.remove("t")
            assert not await client.exists("t")
    assert found == ["t/a", "t/b", "t/b/c", "t/b/d", "t/b/d/e"]


async def test_list_via_list_command(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        await seed(server, base, "f.txt", b"12345")
        async with aioftp.Client.context(*server.address[:2], "user", "pass") as client:
            entries = await client.list(raw_command="LIST")
    assert [(p.name, info["type"], int(info["size"])) for p, info in entries] == [
        ("f.txt", "file", 5)
    ]


async def test_pasv_only_client(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        await seed(server, base, "f.txt", b"pasv")
        async with aioftp.Client.context(
            *server.address[:2], "user", "pass", passive_commands=("pasv",)
        ) as client, client.download_stream("f.txt") as stream:
            got = await stream.read()
    assert got == b"pasv"


async def test_many_concurrent_clients(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        await seed(server, base, "shared.bin", PAYLOAD)

        async def one(i: int) -> bytes:
            async with aioftp.Client.context(*server.address[:2], "user", "pass") as client:
                async with client.upload_stream(f"u{i}.bin") as stream:
                    await stream.write(PAYLOAD[i::7])
                async with client.download_stream("shared.bin") as stream:
                    data = b""
                    async for block in stream.iter_by_block():
                        data += block
                    return data

        results = await asyncio.gather(*(one(i) for i in range(10)))
        for i in range(10):
            assert await fetch(server, base, f"u{i}.bin") == PAYLOAD[i::7]
    assert all(r == PAYLOAD for r in results)


async def test_wrong_password(base: pathlib.Path) -> None:
    async with serve(users(base)) as server:
        with pytest.raises(aioftp.StatusCodeError) as err:
            async with aioftp.Client.context(*server.address[:2], "user", "bad"):
                pass
    assert "530" in str(err.value.received_codes)
