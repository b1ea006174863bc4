"""async def tests (pytest-asyncio) use the same fixture: the server runs on its own loop,
in its own thread."""

import aioftp
import pytest


@pytest.mark.asyncio
async def test_with_an_async_client(ftp_server):
    ftp_server.put("/greeting.txt", b"hi")

    async with aioftp.Client.context(
        ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password
    ) as client:
        async with client.download_stream("/greeting.txt") as stream:
            assert await stream.read() == b"hi"
        async with client.upload_stream("/reply.txt") as stream:
            await stream.write(b"hello")

    assert ftp_server.listdir() == ["greeting.txt", "reply.txt"]
    assert ftp_server.read("/reply.txt") == b"hello"
