"""curl against the core server: upload, download, listing, resume, active mode."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest
from conftest import LiveServer, StartServer

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

PAYLOAD = os.urandom(200_000)


def curl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30", "--connect-timeout", "5",
         "--noproxy", "*", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, (result.returncode, result.stderr.decode())
    return result


@pytest.fixture
def srv(live_server: StartServer) -> LiveServer:
    live = live_server()
    live.put("/pub/data.bin", PAYLOAD)
    live.put("/pub/readme.txt", b"read me\n")
    return live


def url(live: LiveServer, path: str = "/") -> str:
    return f"ftp://user:pass@{live.host}:{live.port}{path}"


def test_download(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.bin"
    curl(url(srv, "/pub/data.bin"), "-o", str(out))
    assert out.read_bytes() == PAYLOAD


def test_download_pasv_without_epsv(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.bin"
    curl("--disable-epsv", url(srv, "/pub/data.bin"), "-o", str(out))
    assert out.read_bytes() == PAYLOAD


@pytest.mark.parametrize("method", ["multicwd", "singlecwd", "nocwd"])
def test_download_with_each_cwd_method(
    srv: LiveServer, tmp_path: pathlib.Path, method: str
) -> None:
    out = tmp_path / "readme.txt"
    curl("--ftp-method", method, url(srv, "/pub/readme.txt"), "-o", str(out))
    assert out.read_bytes() == b"read me\n"


def test_upload_creating_directories(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    local = tmp_path / "up.bin"
    local.write_bytes(PAYLOAD)
    curl("--ftp-create-dirs", "-T", str(local), url(srv, "/new/deeper/up.bin"))
    assert srv.read("/new/deeper/up.bin") == PAYLOAD


def test_upload_into_directory_url(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    local = tmp_path / "named.txt"
    local.write_bytes(b"named\n")
    curl("-T", str(local), url(srv, "/pub/"))
    assert srv.read("/pub/named.txt") == b"named\n"


def test_listing(srv: LiveServer) -> None:
    listing = curl(url(srv, "/pub/")).stdout.decode()
    lines = listing.splitlines()
    assert sorted(line.split()[-1] for line in lines) == ["data.bin", "readme.txt"]
    assert any(line.startswith("-") and " 200000 " in line for line in lines)
    names = curl("--list-only", url(srv, "/pub/")).stdout.decode().split()
    assert sorted(names) == ["data.bin", "readme.txt"]


def test_resume_download(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "partial.bin"
    out.write_bytes(PAYLOAD[:70_000])
    curl("-C", "-", url(srv, "/pub/data.bin"), "-o", str(out))
    assert out.read_bytes() == PAYLOAD
    assert srv.stats.bytes_sent == len(PAYLOAD) - 70_000


def test_resume_upload(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    srv.put("/pub/resumed.bin", PAYLOAD[:50_000])
    local = tmp_path / "resumed.bin"
    local.write_bytes(PAYLOAD)
    curl("-C", "-", "-T", str(local), url(srv, "/pub/resumed.bin"))
    assert srv.read("/pub/resumed.bin") == PAYLOAD
    assert srv.stats.bytes_received == len(PAYLOAD) - 50_000


def test_active_mode(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "active.bin"
    curl("-P", "127.0.0.1", url(srv, "/pub/data.bin"), "-o", str(out))
    assert out.read_bytes() == PAYLOAD
    local = tmp_path / "act-up.txt"
    local.write_bytes(b"active upload\n")
    curl("-P", "127.0.0.1", "-T", str(local), url(srv, "/pub/act-up.txt"))
    assert srv.read("/pub/act-up.txt") == b"active upload\n"
    listing = curl("-P", "127.0.0.1", url(srv, "/pub/")).stdout.decode()
    assert "act-up.txt" in listing


def test_active_mode_port_only(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "active.bin"
    curl("-P", "127.0.0.1", "--disable-eprt", url(srv, "/pub/data.bin"), "-o", str(out))
    assert out.read_bytes() == PAYLOAD


def test_quote_commands(srv: LiveServer) -> None:
    curl("-Q", "MKD /made", "-Q", "RNFR /pub/readme.txt", "-Q", "RNTO /made/moved.txt",
         url(srv, "/"))
    assert srv.read("/made/moved.txt") == b"read me\n"
    assert not srv.exists("/pub/readme.txt")


def test_missing_file_is_an_error(srv: LiveServer, tmp_path: pathlib.Path) -> None:
    result = curl(url(srv, "/pub/nope.bin"), "-o", str(tmp_path / "x"), check=False)
    # curl 78: "The resource referenced in the URL does not exist" (550 on RETR/SIZE)
    assert result.returncode == 78, result.stderr.decode()


def test_bad_password_is_an_error(srv: LiveServer) -> None:
    result = curl(f"ftp://user:wrong@{srv.host}:{srv.port}/", check=False)
    assert result.returncode == 67, result.stderr.decode()  # login denied
