"""The ``ftp_server`` fixture and ``ftp_server_factory``, used from inner test files the way
a user would use them (``pytester`` runs each file in a fresh pytest session)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_default_fixture_with_ftplib(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io, pathlib

        def test_upload_download(ftp_server, tmp_path):
            assert ftp_server.host == "127.0.0.1"
            assert isinstance(ftp_server.port, int) and ftp_server.port > 0
            assert ftp_server.address == (ftp_server.host, ftp_server.port)
            assert ftp_server.url == f"ftp://127.0.0.1:{ftp_server.port}"
            assert ftp_server.root.is_dir() and tmp_path in ftp_server.root.parents
            assert ftp_server.login == "user" and len(ftp_server.password) >= 12
            assert [u.login for u in ftp_server.users] == ["user", "anonymous"]
            assert ftp_server.server.address[1] == ftp_server.port
            assert ftp_server.ca_cert_path is None

            ftp_server.put("/dir/hello.txt", "hello")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                data = io.BytesIO()
                ftp.retrbinary("RETR /dir/hello.txt", data.write)
                assert data.getvalue() == b"hello"
                ftp.storbinary("STOR /dir/up.bin", io.BytesIO(b"\\x00" * 5000))
            assert ftp_server.read("/dir/up.bin") == b"\\x00" * 5000
            assert (ftp_server.root / "dir" / "up.bin").stat().st_size == 5000
            assert ftp_server.listdir("/dir") == ["hello.txt", "up.bin"]
            assert ftp_server.exists("dir/hello.txt") and not ftp_server.exists("/nope")

        def test_anonymous_and_wrong_password(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login()  # anonymous, read-write
                ftp.storbinary("STOR anon.txt", io.BytesIO(b"a"))
            assert ftp_server.read("anon.txt") == b"a"
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                try:
                    ftp.login(ftp_server.login, "wrong")
                except ftplib.error_perm as exc:
                    assert str(exc).startswith("530")
                else:
                    raise AssertionError("a wrong password was accepted")
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_file_helpers_on_every_backend(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io, pytest

        @pytest.mark.parametrize("backend", ["tmp_path", "memory", "async"])
        def test_helpers(ftp_server_factory, backend):
            server = ftp_server_factory(backend=backend)
            assert server.backend == backend
            assert (server.root is None) == (backend == "memory")
            server.put("/a/b/c.txt", b"data")
            server.put("/a/text.txt", "h\\u00e9")
            server.mkdir("/a/empty")
            assert server.read("/a/b/c.txt") == b"data"
            assert server.read("/a/text.txt") == "h\\u00e9".encode()
            assert server.exists("/a/b") and server.exists("/a/b/c.txt")
            assert not server.exists("/a/missing")
            assert server.listdir("/a") == ["b", "empty", "text.txt"]
            assert server.listdir("/a/empty") == []
            assert server.listdir() == ["a"]
            # ".." never leaves the served tree
            assert server.read("/../../a/b/c.txt") == b"data"
            with ftplib.FTP() as ftp:
                ftp.connect(server.host, server.port)
                ftp.login(server.login, server.password)
                assert sorted(ftp.nlst("/a")) in (
                    ["b", "empty", "text.txt"], ["/a/b", "/a/empty", "/a/text.txt"]
                )
                ftp.storbinary("STOR /a/up", io.BytesIO(b"up"))
            assert server.read("/a/up") == b"up"
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_isolation_between_tests_and_servers_stop(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import socket, pytest

        seen = []

        def refused(address):
            try:
                socket.create_connection(address, timeout=5).close()
            except ConnectionRefusedError:
                return True
            return False

        @pytest.mark.parametrize("backend", ["tmp_path", "memory"])
        @pytest.mark.parametrize("round", [1, 2])
        def test_fresh_tree(ftp_server_factory, backend, round):
            for address in seen:
                assert refused(address), f"{address} still listens after its test"
            a = ftp_server_factory(backend=backend)
            b = ftp_server_factory(backend=backend)
            assert a.port != b.port and a.listdir() == [] and b.listdir() == []
            a.put("only-in-a.txt", "x")
            assert not b.exists("only-in-a.txt")
            seen.extend([a.address, b.address])

        def test_default_server_is_fresh_too(ftp_server):
            assert ftp_server.listdir() == []
            ftp_server.put("leftover.txt", "x")

        def test_and_again(ftp_server):
            assert ftp_server.listdir() == []
        """
    )
    inner.runpytest().assert_outcomes(passed=6)


def test_factory_options_and_users(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib
        from pytest_ftpserver import User, Permission

        def test_factory(ftp_server_factory):
            server = ftp_server_factory(
                backend="memory",
                users=[
                    User("alice", "secret", home_path="/alice"),
                    {"login": "bob", "password": "pw",
                     "permissions": [Permission("/", writable=False)]},
                ],
                maximum_connections=5,
            )
            assert server.login == "alice" and server.password == "secret"
            assert server.server.maximum_connections == 5
            assert server.exists("/alice")
            with ftplib.FTP() as ftp:
                ftp.connect(server.host, server.port)
                ftp.login("bob", "pw")
                assert ftp.pwd() == "/"
            assert len(ftp_server_factory.handles) == 1
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_stats_through_the_handle(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io

        def test_stats(ftp_server):
            ftp_server.put("a.bin", b"x" * 1000)
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                ftp.retrbinary("RETR a.bin", lambda _: None)
                ftp.storbinary("STOR b.bin", io.BytesIO(b"y" * 300))
            try:
                with ftplib.FTP() as ftp:
                    ftp.connect(ftp_server.host, ftp_server.port)
                    ftp.login("user", "bad")
            except ftplib.error_perm:
                pass
            stats = ftp_server.stats
            assert stats.connections_total == 2
            assert stats.logins == 1 and stats.failed_logins == 1
            assert stats.bytes_sent == 1000 and stats.bytes_received == 300
            assert stats.files_sent == 1 and stats.files_received == 1
            assert stats.commands["RETR"] == 1 and stats.commands["USER"] == 2
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_async_tests_with_aioftp_client(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import aioftp, pytest

        async def roundtrip(server):
            server.put("/in.txt", b"from the fixture")
            async with aioftp.Client.context(
                server.host, server.port, server.login, server.password
            ) as client:
                async with client.download_stream("/in.txt") as stream:
                    assert await stream.read() == b"from the fixture"
                async with client.upload_stream("/out.txt") as stream:
                    await stream.write(b"from aioftp")
                names = sorted(str(path) for path, _ in await client.list("/"))
            assert names == ["/in.txt", "/out.txt"]
            assert server.read("/out.txt") == b"from aioftp"

        @pytest.mark.asyncio
        async def test_function_loop(ftp_server):
            await roundtrip(ftp_server)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop(ftp_server):
            await roundtrip(ftp_server)

        @pytest.mark.ftp_server(backend="memory")
        @pytest.mark.asyncio(loop_scope="session")
        async def test_session_loop_memory(ftp_server):
            await roundtrip(ftp_server)

        def test_sync_after_async(ftp_server):
            ftp_server.put("x", b"1")
            assert ftp_server.listdir() == ["x"]
        """
    )
    inner.runpytest().assert_outcomes(passed=4)


def test_a_hundred_tests_connecting_at_once(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import socket, pytest

        @pytest.mark.parametrize("n", range(100))
        def test_connect_first_thing(ftp_server, n):
            with socket.create_connection(ftp_server.address, timeout=5) as sock:
                sock.sendall(b"USER anonymous\\r\\nQUIT\\r\\n")
                data = b""
                while b"221" not in data:
                    chunk = sock.recv(4096)
                    assert chunk, data
                    data += chunk
            assert data.startswith(b"220")
        """
    )
    inner.runpytest().assert_outcomes(passed=100)


def test_markers_are_registered(inner: pytest.Pytester) -> None:
    result = inner.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.ftp_server(**options): *",
            "@pytest.mark.ftp_user(login=None, password=None, **user_options): *",
        ]
    )
    assert result.ret == 0


def test_no_server_no_thread(inner: pytest.Pytester) -> None:
    """A session that never asks for a server starts no thread."""
    inner.makepyfile(
        """
        import threading

        def test_plain():
            assert not [t for t in threading.enumerate() if t.name == "pytest-ftpserver"]
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_ftp_server_and_factory_share_one_factory(inner: pytest.Pytester) -> None:
    """ftp_server makes its server through the test's one factory (no second fixture),
    whichever of the two fixtures comes first; every server is stopped at the end."""
    inner.makepyfile(
        """
        import ftplib, pytest

        SEEN = []

        def check(*handles):
            for handle in handles:
                with ftplib.FTP() as ftp:
                    ftp.connect(handle.host, handle.port, timeout=5)
                    ftp.login(handle.login, handle.password)

        @pytest.mark.parametrize("order", ["server first", "factory first"])
        def test_both(request, order):
            names = ["ftp_server", "ftp_server_factory"]
            if order == "factory first":
                names.reverse()
            values = {name: request.getfixturevalue(name) for name in names}
            server, factory = values["ftp_server"], values["ftp_server_factory"]
            other = factory(backend="memory")
            assert server in factory.handles and other in factory.handles
            check(server, other)
            SEEN.append((server, other))

        def test_all_stopped():
            assert len(SEEN) == 2
            for handles in SEEN:
                for handle in handles:
                    with pytest.raises(ConnectionRefusedError):
                        ftplib.FTP().connect(handle.host, handle.port, timeout=5)
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_servers_outlive_the_other_fixture_for_fixtures_set_up_before_it(
    inner: pytest.Pytester,
) -> None:
    """A fixture set up before ftp_server (on ftp_server_factory), or before
    ftp_server_factory (on ftp_server), still has its server in its own teardown: the
    fixture that did not make the shared factory stops only its own servers."""
    inner.makepyfile(
        """
        import ftplib, pytest

        def still_serves(handle, names):
            with ftplib.FTP() as ftp:
                ftp.connect(handle.host, handle.port, timeout=5)
                ftp.login(handle.login, handle.password)
                assert ftp.nlst() == names

        @pytest.fixture
        def mirror(ftp_server_factory):
            handle = ftp_server_factory(backend="memory")
            yield handle
            still_serves(handle, ["kept.txt"])  # ftp_server is gone by now

        @pytest.fixture
        def seeded(ftp_server):
            ftp_server.put("/a.txt", b"x")
            yield ftp_server
            still_serves(ftp_server, ["a.txt"])  # ftp_server_factory is gone by now

        def test_factory_first(mirror, ftp_server):
            mirror.put("/kept.txt", b"x")
            ftp_server.put("/a.txt", b"y")

        def test_ftp_server_first(seeded, ftp_server_factory):
            ftp_server_factory(backend="memory").put("/b.txt", b"y")
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_put_refuses_what_is_not_bytes_or_str(inner: pytest.Pytester) -> None:
    """``put(path, 3)`` used to store three NUL bytes (``bytes(3)``)."""
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("backend", ["tmp_path", "memory"])
        def test_put(ftp_server_factory, backend):
            server = ftp_server_factory(backend=backend)
            with pytest.raises(TypeError, match="bytes or str"):
                server.put("/f", 3)
            assert not server.exists("/f")
            server.put("/g", bytearray(b"ok"))
            server.put("/h", memoryview(b"ok"))
            assert server.read("/g") == server.read("/h") == b"ok"
        """
    )
    inner.runpytest().assert_outcomes(passed=2)
