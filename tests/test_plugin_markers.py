"""Markers, their misuse, and the ini / command-line defaults with their precedence."""

from __future__ import annotations

import pytest
from conftest import INNER_INI as INI
from conftest import ipv6_loopback_available

pytest_plugins = ["pytester"]


def test_ftp_user_markers_stack_and_make_homes(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io, pytest
        from pytest_ftpserver import Permission

        @pytest.mark.ftp_user("alice", "a-pass", home_path="/home/alice")
        @pytest.mark.ftp_user("bob", "b-pass", base_path="bob-root",
                              permissions=[Permission("/", writable=False)])
        @pytest.mark.parametrize("backend", ["tmp_path", "memory"])
        def test_users(ftp_server_factory, ftp_server, backend):
            assert [u.login for u in ftp_server.users] == ["alice", "bob"]
            assert (ftp_server.login, ftp_server.password) == ("alice", "a-pass")
            assert ftp_server.exists("/home/alice") and ftp_server.exists("/bob-root")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login("alice", "a-pass")
                assert ftp.pwd() == "/home/alice"
                ftp.storbinary("STOR note.txt", io.BytesIO(b"hi"))
            assert ftp_server.read("/home/alice/note.txt") == b"hi"
            ftp_server.put("/bob-root/for-bob.txt", "x")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login("bob", "b-pass")
                assert ftp.nlst() == ["for-bob.txt"]
                with pytest.raises(ftplib.error_perm, match="^55"):
                    ftp.storbinary("STOR nope.txt", io.BytesIO(b"x"))
                with pytest.raises(ftplib.error_perm, match="^530"):
                    ftp.login("anonymous", "")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                with pytest.raises(ftplib.error_perm, match="^530"):
                    ftp.login()  # the default users are gone

        @pytest.mark.ftp_user()
        def test_any_login(ftp_server):
            assert (ftp_server.login, ftp_server.password) == ("anonymous", "")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login("whoever", "whatever")
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_class_and_module_markers_closest_wins(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        pytestmark = [
            pytest.mark.ftp_server(backend="memory", idle_timeout=30),
            pytest.mark.ftp_user("module-user", "m"),
        ]

        def test_module_level(ftp_server):
            assert ftp_server.backend == "memory"
            assert ftp_server.server.idle_timeout == 30
            assert ftp_server.login == "module-user"

        @pytest.mark.ftp_server(backend="tmp_path")
        @pytest.mark.ftp_user("class-user", "c")
        class TestClass:
            def test_class_level(self, ftp_server):
                # the class marker wins for backend; idle_timeout still comes from the module
                assert ftp_server.backend == "tmp_path" and ftp_server.root is not None
                assert ftp_server.server.idle_timeout == 30
                assert [u.login for u in ftp_server.users] == ["class-user"]

            @pytest.mark.ftp_server(idle_timeout=5)
            @pytest.mark.ftp_user("function-user", "f")
            def test_function_level(self, ftp_server):
                assert ftp_server.backend == "tmp_path"
                assert ftp_server.server.idle_timeout == 5
                assert [u.login for u in ftp_server.users] == ["function-user"]

        def test_factory_ignores_markers(ftp_server_factory):
            server = ftp_server_factory()
            assert server.backend == "tmp_path" and server.login == "user"

        @pytest.mark.parametrize("expected", [
            "memory",
            pytest.param("async", marks=pytest.mark.ftp_server(backend="async")),
        ])
        def test_parametrize_marks(ftp_server, expected):
            assert ftp_server.backend == expected
        """
    )
    inner.runpytest().assert_outcomes(passed=6)


MISUSE = {
    "unknown_option": (
        "@pytest.mark.ftp_server(idle_timout=3)",
        "*@pytest.mark.ftp_server: unknown option 'idle_timout' (did you mean 'idle_timeout'?);*",
    ),
    "bad_type": (
        "@pytest.mark.ftp_server(socket_timeout='slow')",
        "*@pytest.mark.ftp_server: option 'socket_timeout' must be *, got 'slow' (str)",
    ),
    "bad_value_checked_by_core": (
        "@pytest.mark.ftp_server(socket_timeout=-1)",
        "*@pytest.mark.ftp_server: *socket_timeout*",
    ),
    "bad_backend": (
        "@pytest.mark.ftp_server(backend='s3')",
        "*option 'backend' must be one of 'tmp_path', 'memory', 'async', got 's3'",
    ),
    "positional": (
        "@pytest.mark.ftp_server('memory')",
        "*@pytest.mark.ftp_server takes keyword arguments only*",
    ),
    "bad_tls": (
        "@pytest.mark.ftp_server(tls='yes')",
        "*option 'tls' must be True, 'explicit', 'implicit' or False, got 'yes'",
    ),
    "tls_and_ssl": (
        "@pytest.mark.ftp_server(tls=True, ssl=__import__('ssl').create_default_context())",
        "*give either option 'tls' * or option 'ssl' *",
    ),
    "user_unknown_option": (
        "@pytest.mark.ftp_user('a', 'b', home='/x')",
        "*@pytest.mark.ftp_user: unknown option 'home'*; valid options: *home_path*",
    ),
    "user_bad_type": (
        "@pytest.mark.ftp_user('a', 1234)",
        "*@pytest.mark.ftp_user: option 'password' must be a str or None, got 1234",
    ),
    "user_bad_limit": (
        "@pytest.mark.ftp_user('a', 'b', read_speed_limit='fast')",
        "*@pytest.mark.ftp_user: option 'read_speed_limit' must be *, got 'fast' (str)",
    ),
}


def test_marker_misuse_fails_at_setup_naming_the_option(inner: pytest.Pytester) -> None:
    source = ["import pytest"]
    for name, (decorator, _) in MISUSE.items():
        source += ["", decorator, f"def test_{name}(ftp_server):", "    pass"]
    inner.makepyfile("\n".join(source))
    result = inner.runpytest("-rE")
    result.assert_outcomes(errors=len(MISUSE))
    for name, (_, message) in MISUSE.items():
        result.stdout.fnmatch_lines([f"*ERROR at setup of test_{name}*", message])
    # a clean message, not a traceback into the plugin
    assert "plugin.py" not in result.stdout.str()


def test_factory_misuse_raises(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from pytest_ftpserver.plugin import FTPServerOptionError

        def test_misuse(ftp_server_factory):
            with pytest.raises(FTPServerOptionError, match="unknown option 'colour'"):
                ftp_server_factory(colour="blue")
            with pytest.raises(FTPServerOptionError, match="users must be a list"):
                ftp_server_factory(users="alice")
            with pytest.raises(FTPServerOptionError, match="unknown option 'nick'"):
                ftp_server_factory(users=[{"login": "a", "nick": "b"}])
            assert ftp_server_factory.handles == []
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


PRECEDENCE_TEST = """
import pytest

def test_defaults(ftp_server, request):
    expected = request.config.getoption("expected")
    got = {
        "backend": ftp_server.backend,
        "host": ftp_server.host,
        "socket_timeout": ftp_server.server.socket_timeout,
        "idle_timeout": ftp_server.server.idle_timeout,
        "path_timeout": ftp_server.server.path_timeout,
    }
    assert got == eval(expected)

@pytest.mark.ftp_server(backend="async", idle_timeout=99, host="127.0.0.1")
def test_marker_wins(ftp_server):
    assert ftp_server.backend == "async"
    assert ftp_server.server.idle_timeout == 99
    assert ftp_server.host == "127.0.0.1"
"""

PRECEDENCE_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--expected")
"""


def test_option_precedence_marker_over_command_line_over_ini(inner: pytest.Pytester) -> None:
    inner.makeini(
        INI
        + """
ftp_server_backend = memory
ftp_server_socket_timeout = 11
ftp_server_idle_timeout = 12
"""
    )
    inner.makeconftest(PRECEDENCE_CONFTEST)
    inner.makepyfile(PRECEDENCE_TEST)
    from_ini = {
        "backend": "memory",
        "host": "127.0.0.1",
        "socket_timeout": 11,
        "idle_timeout": 12,
        "path_timeout": None,
    }
    inner.runpytest(f"--expected={from_ini!r}").assert_outcomes(passed=2)
    from_command_line = {**from_ini, "backend": "tmp_path", "idle_timeout": 3, "path_timeout": 4}
    inner.runpytest(
        f"--expected={from_command_line!r}",
        "--ftp-server-backend=tmp_path",
        "--ftp-server-idle-timeout=3",
        "--ftp-server-path-timeout",
        "4",
    ).assert_outcomes(passed=2)


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_bind_host_ipv6(inner: pytest.Pytester) -> None:
    inner.makeini(INI + "ftp_server_host = ::1\n")
    inner.makepyfile(
        """
        import ftplib

        def test_v6(ftp_server):
            assert ftp_server.host == "::1"
            assert ftp_server.url == f"ftp://[::1]:{ftp_server.port}"
            ftp_server.put("six.txt", b"6")
            with ftplib.FTP() as ftp:
                ftp.connect("::1", ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                assert ftp.nlst() == ["six.txt"]
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_bad_ini_value_is_a_usage_error(inner: pytest.Pytester) -> None:
    inner.makeini(INI + "ftp_server_idle_timeout = soon\n")
    inner.makepyfile("def test_x(ftp_server): pass")
    result = inner.runpytest()
    result.stdout.fnmatch_lines(["*ftp_server_idle_timeout: expected a number of seconds*"])
    assert result.ret != 0


def test_options_in_help(inner: pytest.Pytester) -> None:
    result = inner.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*FTP server fixture (pytest-ftpserver)*",
            "*--ftp-server-host=HOST*",
            "*--ftp-server-backend=*",
            "*--ftp-server-socket-timeout=SECONDS*",
            "*--ftp-server-idle-timeout=SECONDS*",
            "*--ftp-server-path-timeout=SECONDS*",
            "*ftp_server_host (string)*",
            "*ftp_server_backend (string)*",
        ]
    )
