"""lftp against the core server: put/get/ls, mirror both ways, active mode."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest
from conftest import LiveServer, StartServer

pytestmark = pytest.mark.skipif(shutil.which("lftp") is None, reason="lftp is not installed")

SETTINGS = (
    "set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 10; "
    "set net:reconnect-interval-base 1; set xfer:clobber on; set cmd:interactive no; "
)


def lftp(
    live: LiveServer, commands: str, home: pathlib.Path, *, passive: bool = True
) -> subprocess.CompletedProcess[str]:
    mode = "" if passive else "set ftp:passive-mode off; "
    script = (
        SETTINGS + mode + f"open -u {live.login},{live.password} -p {live.port} "
        f"ftp://{live.host}; " + commands
    )
    env = {**os.environ, "HOME": str(home), "LC_ALL": "C"}
    env.pop("LOCPATH", None)
    result = subprocess.run(
        ["lftp", "-c", script], capture_output=True, text=True, timeout=90, env=env,
        cwd=home, check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def make_tree(root: pathlib.Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": os.urandom(150_000),
        "sub/deeper/c.txt": b"c" * 1000,
        "sub/deeper/with space.txt": b"spaced",
        "other/d.txt": b"delta",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-dir").mkdir()
    return files


def tree(root: pathlib.Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


@pytest.fixture
def home(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(params=[True, False], ids=["passive", "active"])
def passive(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_put_get_ls(live_server: StartServer, home: pathlib.Path, passive: bool) -> None:
    live = live_server()
    local = home / "up.bin"
    payload = os.urandom(120_000)
    local.write_bytes(payload)
    result = lftp(
        live,
        "mkdir incoming; put up.bin -o incoming/up.bin; get incoming/up.bin -o back.bin; "
        "cls -1 incoming; ls incoming",
        home,
        passive=passive,
    )
    assert live.read("/incoming/up.bin") == payload
    assert (home / "back.bin").read_bytes() == payload
    lines = result.stdout.splitlines()
    assert "up.bin" in lines[0]
    assert lines[-1].split()[-1] == "up.bin"
    assert " 120000 " in lines[-1]


def test_mirror_download(
    live_server: StartServer, tmp_path: pathlib.Path, home: pathlib.Path, passive: bool
) -> None:
    live = live_server()
    make_tree(live.base / "tree")
    lftp(live, "mirror tree copy", home, passive=passive)
    assert tree(home / "copy") == tree(live.base / "tree")


def test_mirror_upload(live_server: StartServer, home: pathlib.Path, passive: bool) -> None:
    live = live_server()
    make_tree(home / "local")
    lftp(live, "mirror -R local remote", home, passive=passive)
    assert tree(live.base / "remote") == tree(home / "local")


def test_mirror_upload_to_memory_backend(live_server: StartServer, home: pathlib.Path) -> None:
    live = live_server(backend="memory")
    files = make_tree(home / "local")
    lftp(live, "mirror -R local remote", home)
    for rel, data in files.items():
        assert live.read("/remote/" + rel) == data
    assert live.is_dir("/remote/empty-dir")


def test_mirror_is_idempotent(live_server: StartServer, home: pathlib.Path) -> None:
    live = live_server()
    make_tree(live.base / "tree")
    lftp(live, "mirror tree copy", home)
    retrieved = live.stats.commands["RETR"]
    assert retrieved == 5
    result = lftp(live, "mirror --verbose tree copy", home)
    # nothing changed: the second mirror fetches no file (it compares size and time, so
    # MLSD/MDTM must report what the first mirror set with MFMT or saw)
    assert live.stats.commands["RETR"] == retrieved, result.stdout
    assert tree(home / "copy") == tree(live.base / "tree")


def test_resume_get(live_server: StartServer, home: pathlib.Path) -> None:
    live = live_server()
    payload = os.urandom(100_000)
    live.put("/r.bin", payload)
    (home / "r.bin").write_bytes(payload[:40_000])
    lftp(live, "get -c r.bin -o r.bin", home)
    assert (home / "r.bin").read_bytes() == payload
    assert live.stats.bytes_sent == 60_000


def test_rm_rename_and_rmdir(live_server: StartServer, home: pathlib.Path) -> None:
    live = live_server()
    live.put("/d/x.txt", b"x")
    live.put("/d/y.txt", b"y")
    lftp(live, "mv d/x.txt d/z.txt; rm d/y.txt; mkdir -p e/f; rmdir e/f", home)
    assert live.names("/d") == ["z.txt"]
    assert live.names("/e") == []
