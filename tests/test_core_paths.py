"""Virtual paths never reach outside the user's base path; permissions by nearest ancestor."""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import pathlib

import pytest
from conftest import LiveServer, StartServer

SECRET = b"top secret outside the root\n"


@pytest.fixture
def jail(live_server: StartServer, tmp_path: pathlib.Path) -> LiveServer:
    """A PathIO server rooted at tmp_path/root with a secret file next to the root."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "loot.txt").write_bytes(SECRET)
    live = live_server()
    (live.base / "inside.txt").write_bytes(b"inside\n")
    (live.base / "sub").mkdir()
    return live


def try_retr(ftp: ftplib.FTP, path: str) -> bytes | str:
    buf = io.BytesIO()
    try:
        ftp.retrbinary(f"RETR {path}", buf.write)
    except ftplib.error_perm as exc:
        return str(exc)[:3]
    return buf.getvalue()


ESCAPES = [
    "../secret.txt",
    "../../secret.txt",
    "/../secret.txt",
    "/../../../../../../secret.txt",
    "sub/../../secret.txt",
    "..\\secret.txt",
    "\\..\\secret.txt",
    "sub\\..\\..\\secret.txt",
    "..//secret.txt",
    "./../secret.txt",
    "%2e%2e/secret.txt",
    "../outside/loot.txt",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_retr_never_escapes(jail: LiveServer, path: str) -> None:
    with jail.ftp() as ftp:
        got = try_retr(ftp, path)
    assert got != SECRET
    assert got == "550"


def test_absolute_real_path_is_a_virtual_path(jail: LiveServer, tmp_path: pathlib.Path) -> None:
    with jail.ftp() as ftp:
        assert try_retr(ftp, str(tmp_path / "secret.txt")) == "550"
        assert try_retr(ftp, str(jail.base / "inside.txt")) == "550"
        assert try_retr(ftp, "/inside.txt") == b"inside\n"


def test_cwd_dotdot_clamps_at_root(jail: LiveServer) -> None:
    with jail.ftp() as ftp:
        ftp.cwd("..")
        assert ftp.pwd() == "/"
        ftp.cwd("../../..")
        assert ftp.pwd() == "/"
        ftp.cwd("/sub/../..")
        assert ftp.pwd() == "/"
        ftp.cwd("..\\..")
        assert ftp.pwd() == "/"
        names = ftp.nlst()
    assert sorted(names) == ["inside.txt", "sub"]


def test_listing_never_shows_outside(jail: LiveServer) -> None:
    with jail.ftp() as ftp:
        for target in ("..", "../..", "/..", "..\\.."):
            lines: list[str] = []
            ftp.retrlines(f"LIST {target}", lines.append)
            names = {line.split()[-1] for line in lines}
            assert "secret.txt" not in names
            assert "outside" not in names
            assert {"inside.txt", "sub"} <= names


@pytest.mark.parametrize(
    "path", ["../evil.txt", "/../evil.txt", "..\\evil.txt", "sub/../../evil.txt"]
)
def test_stor_never_writes_outside(jail: LiveServer, tmp_path: pathlib.Path, path: str) -> None:
    with jail.ftp() as ftp, contextlib.suppress(ftplib.error_perm):
        ftp.storbinary(f"STOR {path}", io.BytesIO(b"evil"))
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path.parent / "evil.txt").exists()
    # clamped to the root is acceptable, refusing is acceptable, escaping is not
    written = [p for p in tmp_path.rglob("evil.txt")]
    assert all(jail.base in p.parents for p in written)


def test_mkd_rnto_dele_never_outside(jail: LiveServer, tmp_path: pathlib.Path) -> None:
    with jail.ftp() as ftp:
        for command in ("MKD ../newdir", "DELE ../secret.txt", "RMD ../outside",
                        "RNFR ../secret.txt", "SIZE ../secret.txt", "MDTM ../secret.txt"):
            with contextlib.suppress(ftplib.error_perm):
                ftp.sendcmd(command)
        ftp.sendcmd("RNFR inside.txt")
        with contextlib.suppress(ftplib.error_perm):
            ftp.sendcmd("RNTO ../stolen.txt")
    assert (tmp_path / "secret.txt").read_bytes() == SECRET
    assert (tmp_path / "outside").is_dir()
    assert not (tmp_path / "newdir").exists()
    assert not (tmp_path / "stolen.txt").exists()


def test_size_of_outside_file_is_not_revealed(jail: LiveServer) -> None:
    with jail.ftp() as ftp:
        for path in ("../secret.txt", "..\\secret.txt"):
            with pytest.raises(ftplib.error_perm) as err:
                ftp.size(path)
            assert str(err.value).startswith("550")


@pytest.mark.parametrize("command", ["RETR in\x00side.txt", "MKD a\x00b", "STOR x\x00y",
                                     "CWD sub\x00/..", "DELE inside.txt\x00"])
def test_nul_in_path_is_refused_without_touching_storage(jail: LiveServer, command: str) -> None:
    before = sorted(p.name for p in jail.base.rglob("*"))
    with jail.raw_logged_in() as raw:
        reply = raw.cmd(command)
        assert reply[0] in "45", reply
        assert raw.cmd("NOOP").startswith("200")
    assert sorted(p.name for p in jail.base.rglob("*")) == before
    assert (jail.base / "inside.txt").read_bytes() == b"inside\n"


# --------------------------------------------------------------------------- symlinks


def test_symlinked_dir_leading_outside_is_refused(jail: LiveServer, tmp_path: pathlib.Path) -> None:
    os.symlink(tmp_path / "outside", jail.base / "escape")
    with jail.ftp() as ftp:
        with pytest.raises(ftplib.error_perm) as err:
            ftp.cwd("escape")
        assert str(err.value).startswith("550")
        assert try_retr(ftp, "escape/loot.txt") == "550"
        with pytest.raises(ftplib.error_perm) as err:
            ftp.retrlines("LIST escape", lambda line: None)
        assert str(err.value).startswith("550")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.storbinary("STOR escape/planted.txt", io.BytesIO(b"x"))
        assert str(err.value).startswith("550")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.mkd("escape/newdir")
        assert str(err.value).startswith("550")
    assert not (tmp_path / "outside" / "planted.txt").exists()
    assert not (tmp_path / "outside" / "newdir").exists()


def test_symlinked_file_leading_outside_is_refused(
    jail: LiveServer, tmp_path: pathlib.Path
) -> None:
    os.symlink(tmp_path / "secret.txt", jail.base / "link.txt")
    with jail.ftp() as ftp:
        assert try_retr(ftp, "link.txt") == "550"
        with pytest.raises(ftplib.error_perm) as err:
            ftp.size("link.txt")
        assert str(err.value).startswith("550")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.storbinary("STOR link.txt", io.BytesIO(b"overwritten"))
        assert str(err.value).startswith("550")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.storbinary("APPE link.txt", io.BytesIO(b"appended"))
        assert str(err.value).startswith("550")
    assert (tmp_path / "secret.txt").read_bytes() == SECRET


def test_symlink_chain_leading_outside_is_refused(
    jail: LiveServer, tmp_path: pathlib.Path
) -> None:
    os.symlink(tmp_path / "secret.txt", jail.base / "sub" / "hop1")
    os.symlink("sub/hop1", jail.base / "hop2")
    with jail.ftp() as ftp:
        assert try_retr(ftp, "hop2") == "550"
        assert try_retr(ftp, "sub/hop1") == "550"


def test_symlink_inside_the_root_is_followed(jail: LiveServer) -> None:
    os.symlink(jail.base / "inside.txt", jail.base / "sub" / "alias.txt")
    os.symlink("sub", jail.base / "subalias")
    with jail.ftp() as ftp:
        assert try_retr(ftp, "sub/alias.txt") == b"inside\n"
        assert try_retr(ftp, "subalias/alias.txt") == b"inside\n"


def test_listing_a_dir_with_an_outside_link_still_works(
    jail: LiveServer, tmp_path: pathlib.Path
) -> None:
    os.symlink(tmp_path / "secret.txt", jail.base / "link.txt")
    with jail.ftp() as ftp:
        lines: list[str] = []
        ftp.retrlines("LIST", lines.append)
        # a link leading outside must not break the listing of everything else
        assert {"inside.txt", "sub"} <= {line.split()[-1] for line in lines} | {
            line.split(" -> ")[0].split()[-1] for line in lines
        }
        assert ftp.sendcmd("NOOP").startswith("200")


# --------------------------------------------------------------------------- permissions


@pytest.fixture
def perms(live_server: StartServer, tmp_path: pathlib.Path) -> LiveServer:
    from pytest_ftpserver import Permission, User

    base = tmp_path / "root"
    for d in ("pub/incoming/ro", "private"):
        (base / d).mkdir(parents=True)
    (base / "pub" / "file.txt").write_bytes(b"pub\n")
    (base / "pub" / "incoming" / "ro" / "file.txt").write_bytes(b"ro\n")
    (base / "private" / "file.txt").write_bytes(b"private\n")
    (base / "top.txt").write_bytes(b"top\n")
    user = User(
        "user",
        "pass",
        base_path=base,
        home_path="/pub",
        permissions=[
            Permission("/", readable=False, writable=False),
            Permission("/pub", readable=True, writable=False),
            Permission("/pub/incoming", readable=True, writable=True),
            Permission("/pub/incoming/ro", readable=True, writable=False),
            Permission("/private", readable=False, writable=True),
        ],
    )
    return live_server([user], base=base)


def stor(ftp: ftplib.FTP, path: str, data: bytes = b"x") -> str:
    try:
        return ftp.storbinary(f"STOR {path}", io.BytesIO(data))[:3]
    except ftplib.error_perm as exc:
        return str(exc)[:3]


def test_home_path_is_start_directory(perms: LiveServer) -> None:
    with perms.ftp() as ftp:
        assert ftp.pwd() == "/pub"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/pub/file.txt", True),
        ("/pub/incoming/ro/file.txt", True),
        ("/top.txt", False),
        ("/private/file.txt", False),
    ],
)
def test_read_permission_nearest_ancestor(perms: LiveServer, path: str, allowed: bool) -> None:
    with perms.ftp() as ftp:
        got = try_retr(ftp, path)
    if allowed:
        assert isinstance(got, bytes)
    else:
        assert got == "550"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/pub/new.txt", False),
        ("/pub/incoming/new.txt", True),
        ("/pub/incoming/ro/new.txt", False),
        ("/new.txt", False),
        ("/private/new.txt", True),
    ],
)
def test_write_permission_nearest_ancestor(
    perms: LiveServer, path: str, allowed: bool
) -> None:
    with perms.ftp() as ftp:
        result = stor(ftp, path)
    assert (result == "226") is allowed, result
    assert (perms.base / path.lstrip("/")).exists() is allowed


def test_permission_for_listing_and_dir_changes(perms: LiveServer) -> None:
    with perms.ftp() as ftp:
        with pytest.raises(ftplib.error_perm):
            ftp.retrlines("LIST /", lambda line: None)
        with pytest.raises(ftplib.error_perm):
            ftp.retrlines("LIST /private", lambda line: None)
        lines: list[str] = []
        ftp.retrlines("LIST /pub", lines.append)
        assert {line.split()[-1] for line in lines} == {"file.txt", "incoming"}
        with pytest.raises(ftplib.error_perm):
            ftp.mkd("/pub/newdir")
        ftp.mkd("/pub/incoming/newdir")
        with pytest.raises(ftplib.error_perm):
            ftp.delete("/pub/file.txt")
        with pytest.raises(ftplib.error_perm):
            ftp.delete("/pub/incoming/ro/file.txt")
        with pytest.raises(ftplib.error_perm):
            ftp.rename("/pub/file.txt", "/pub/incoming/stolen.txt")
        with pytest.raises(ftplib.error_perm):
            ftp.rename("/pub/incoming/newdir", "/pub/moved")
        with pytest.raises(ftplib.error_perm):
            ftp.storbinary("APPE /pub/file.txt", io.BytesIO(b"more"))
        with pytest.raises(ftplib.error_perm):
            ftp.sendcmd("MFMT 20200101000000 /pub/file.txt")
    assert (perms.base / "pub" / "file.txt").read_bytes() == b"pub\n"
    assert (perms.base / "pub" / "incoming" / "newdir").is_dir()


def test_mlsd_perm_fact_follows_permissions(perms: LiveServer) -> None:
    with perms.ftp() as ftp:
        pub = dict(ftp.mlsd("/pub"))
        incoming = dict(ftp.mlsd("/pub/incoming"))
    assert "r" in pub["file.txt"]["perm"]
    assert "w" not in pub["file.txt"]["perm"]
    assert "d" not in pub["file.txt"]["perm"]
    assert "c" not in incoming["ro"]["perm"]
    assert "c" in pub["incoming"]["perm"]
    assert "e" in pub["incoming"]["perm"]


# --------------------------------------------------------------------------- the tutorial


@pytest.fixture
def tutorial(live_server: StartServer, tmp_path: pathlib.Path) -> LiveServer:
    """The two users of the tutorial, exactly as written there (base_path aside)."""
    from pytest_ftpserver import Permission, User

    base = tmp_path / "root"
    (base / "Guido").mkdir(parents=True)
    (base / "anon").mkdir()
    (base / "anon" / "readme.txt").write_bytes(b"welcome\n")
    (base / "Guido" / "notes.txt").write_bytes(b"guido's\n")
    (base / "root.txt").write_bytes(b"root\n")
    users = (
        User(
            "Guido",
            "secret_password",
            base_path=base,
            home_path="/Guido",
            permissions=(
                Permission("/", readable=False, writable=False),
                Permission("/Guido", readable=True, writable=True),
            ),
        ),
        User(
            base_path=base,
            home_path="/anon",
            permissions=(
                Permission("/", readable=False, writable=False),
                Permission("/anon", readable=True),
            ),
        ),
    )
    return live_server(users, base=base, login="Guido", password="secret_password")


def test_tutorial_guido_reads_and_writes_his_home(tutorial: LiveServer) -> None:
    with tutorial.ftp("Guido", "secret_password") as ftp:
        assert ftp.pwd() == "/Guido"
        assert try_retr(ftp, "notes.txt") == b"guido's\n"
        assert stor(ftp, "new.txt", b"new") == "226"
        ftp.mkd("sub")
        assert "new.txt" in ftp.nlst()
    assert (tutorial.base / "Guido" / "new.txt").read_bytes() == b"new"


def test_tutorial_guido_cannot_touch_root_or_anon(tutorial: LiveServer) -> None:
    with tutorial.ftp("Guido", "secret_password") as ftp:
        with pytest.raises(ftplib.error_perm):
            ftp.retrlines("LIST /", lambda line: None)
        assert try_retr(ftp, "/root.txt") == "550"
        assert try_retr(ftp, "/anon/readme.txt") == "550"
        assert stor(ftp, "/evil.txt") == "550"
        assert stor(ftp, "/anon/evil.txt") == "550"
        with pytest.raises(ftplib.error_perm):
            ftp.mkd("/newdir")
    assert not (tutorial.base / "evil.txt").exists()
    assert not (tutorial.base / "anon" / "evil.txt").exists()


def test_tutorial_guido_wrong_password_is_not_anonymous(tutorial: LiveServer) -> None:
    with tutorial.ftp(login=None) as ftp:
        ftp.sendcmd("USER Guido")  # 331, or 230 would let Guido in without a password
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("PASS wrong")
        assert str(err.value).startswith("530")


@pytest.mark.parametrize("login", ["anonymous", "ftp", "someone"])
def test_tutorial_anonymous_reads_anon(tutorial: LiveServer, login: str) -> None:
    with tutorial.ftp(login=None) as ftp:
        ftp.login(login, "guest@example.org")
        assert ftp.pwd() == "/anon"
        assert try_retr(ftp, "readme.txt") == b"welcome\n"
        assert ftp.nlst() == ["readme.txt"]
        assert try_retr(ftp, "/Guido/notes.txt") == "550"
        assert try_retr(ftp, "/root.txt") == "550"
        assert stor(ftp, "/Guido/evil.txt") == "550"
        assert stor(ftp, "/evil.txt") == "550"
        with pytest.raises(ftplib.error_perm):
            ftp.retrlines("LIST /", lambda line: None)
    assert not (tutorial.base / "Guido" / "evil.txt").exists()
    assert not (tutorial.base / "evil.txt").exists()


def test_is_inside_checks_only_below_a_resolved_root(tmp_path: pathlib.Path) -> None:
    """The containment check resolves the root once and lstat()s only the names below it;
    every case must still agree with a full realpath() comparison."""
    from pytest_ftpserver.pathio.local import _is_inside

    real = tmp_path / "real-root"
    (real / "dir" / "deeper").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(real, tmp_path / "root-link")  # the root itself reached through a link
    os.symlink(tmp_path / "outside", real / "dir" / "out")
    os.symlink(real / "dir", real / "in")
    root = tmp_path / "root-link"
    cases = {
        root: True,
        root / "dir": True,
        root / "dir" / "deeper" / "not-yet" / "file": True,
        root / "dir" / "out": False,
        root / "dir" / "out" / "x": False,
        root / "in" / "deeper": True,
        root / "dir" / ".." / ".." / "outside": False,
    }
    for path, expected in cases.items():
        assert _is_inside(root, path) is expected, path
        real_path = os.path.realpath(path)
        real_root = os.path.realpath(root)
        assert (real_path == real_root or real_path.startswith(real_root + os.sep)) is expected
