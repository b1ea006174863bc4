"""Every command of issue 2 item 2 over a real control connection, with its reply code.

ftplib drives the conversation; where ftplib would hide the exact reply (or refuses to
send the bytes we want), the test uses ``sendcmd`` or a raw socket.
"""

from __future__ import annotations

import calendar
import ftplib
import io
import re
import socket
import time

import pytest
from conftest import LiveServer, StartServer, parse_epsv, parse_pasv


def code(exc_or_reply: BaseException | str) -> str:
    return str(exc_or_reply)[:3]


def retr_bytes(ftp: ftplib.FTP, path: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {path}", buf.write, rest=rest)
    return buf.getvalue()


def raw_retr(ftp: ftplib.FTP, cmd: str) -> bytes:
    """Bytes exactly as they came over the data connection (no ftplib line handling)."""
    with ftp.transfercmd(cmd) as conn:
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    ftp.voidresp()
    return b"".join(chunks)


def raw_stor(ftp: ftplib.FTP, cmd: str, data: bytes) -> None:
    with ftp.transfercmd(cmd) as conn:
        conn.sendall(data)
    ftp.voidresp()


@pytest.fixture
def srv(live_server: StartServer) -> LiveServer:
    live = live_server()
    live.put("/hello.txt", b"hello world\n")
    live.put("/dir/inner.bin", bytes(range(256)) * 4)
    return live


# --------------------------------------------------------------------------- login


def test_greeting_user_pass_quit(srv: LiveServer) -> None:
    ftp = ftplib.FTP()
    try:
        welcome = ftp.connect(srv.host, srv.port, timeout=5)
        assert welcome.startswith("220")
        assert ftp.sendcmd("USER user").startswith("331")
        assert ftp.sendcmd("PASS pass").startswith("230")
        assert ftp.quit().startswith("221")
    finally:
        ftp.close()


def test_wrong_password_gets_530_and_session_goes_on(srv: LiveServer) -> None:
    with srv.ftp(login=None) as ftp:
        assert ftp.sendcmd("USER user").startswith("331")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("PASS wrong")
        assert code(err.value) == "530"
        assert ftp.sendcmd("USER user").startswith("331")
        assert ftp.sendcmd("PASS pass").startswith("230")


def test_pass_without_user_is_503(srv: LiveServer) -> None:
    with srv.ftp(login=None) as ftp, pytest.raises(ftplib.error_perm) as err:
        ftp.sendcmd("PASS pass")
    assert code(err.value) == "503"


def test_user_without_password_logs_in_on_user(live_server: StartServer) -> None:
    live = live_server(login="anyone", password=None)
    with live.ftp(login=None) as ftp:
        assert ftp.sendcmd("USER anyone").startswith("230")
        assert ftp.pwd() == "/"


@pytest.mark.parametrize(
    "command",
    ["PWD", "CWD /", "LIST", "NLST", "RETR hello.txt", "STOR x", "MKD d", "DELE hello.txt",
     "SIZE hello.txt", "MDTM hello.txt", "PASV", "EPSV", "MLSD", "MLST /", "RNFR hello.txt",
     "TYPE I", "REST 0", "CDUP", "RMD dir", "APPE x", "STOU", "PORT 127,0,0,1,200,0"],
)
def test_commands_before_login_get_530(srv: LiveServer, command: str) -> None:
    with srv.raw() as raw:
        assert raw.cmd(command).startswith("530")
        assert raw.cmd("NOOP").startswith("200")


@pytest.mark.parametrize(
    ("command", "expected"),
    [("FEAT", "211"), ("SYST", "215"), ("NOOP", "200"), ("HELP", "214")],
)
def test_harmless_commands_work_before_login(
    srv: LiveServer, command: str, expected: str
) -> None:
    with srv.raw() as raw:
        assert raw.cmd(command).startswith(expected)


def test_quit_before_login(srv: LiveServer) -> None:
    with srv.raw() as raw:
        assert raw.cmd("QUIT").startswith("221")
        assert raw.closed_by_peer()


def test_rein_logs_out(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.cwd("dir")
        assert ftp.sendcmd("REIN").startswith("220")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("PWD")
        assert code(err.value) == "530"
        ftp.login("user", "pass")
        assert ftp.pwd() == "/"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("verb", ["FOO", "XYZZY", "RETRX hello.txt", "LISTING"])
def test_unknown_verb_is_500_or_502(srv: LiveServer, verb: str) -> None:
    with srv.ftp() as ftp:
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd(verb)
        assert code(err.value) in {"500", "502"}
        assert ftp.sendcmd("NOOP").startswith("200")


@pytest.mark.parametrize(
    "command",
    ["MKD", "RMD", "DELE", "RNFR", "SIZE", "MDTM", "RETR", "STOR", "APPE", "PORT", "EPRT",
     "REST", "TYPE", "MODE", "STRU", "MFMT", "USER"],
)
def test_missing_argument_is_501(srv: LiveServer, command: str) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd(command)
        assert reply[:3] == "501", reply
        assert raw.cmd("NOOP").startswith("200")


@pytest.mark.parametrize(
    "command",
    [
        "PORT 1,2,3",
        "PORT 127,0,0,1,300,1",
        "PORT a,b,c,d,e,f",
        "EPRT |1|127.0.0.1|",
        "EPRT garbage",
        "EPRT |1|not-an-ip|2000|",
        "REST abc",
        "REST -5",
        "MFMT 2020 hello.txt",
        "MFMT notatime hello.txt",
        "MFMT 20201301000000 hello.txt",
    ],
)
def test_malformed_argument_is_501(srv: LiveServer, command: str) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd(command)
        assert reply[:3] == "501", reply
        assert raw.cmd("NOOP").startswith("200")


# --------------------------------------------------------------------------- navigation


def test_pwd_cwd_cdup_and_x_aliases(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.pwd() == "/"
        assert ftp.sendcmd("CWD dir").startswith("250")
        assert ftp.pwd() == "/dir"
        assert ftp.sendcmd("XPWD").startswith('257 "/dir"')
        assert ftp.sendcmd("CDUP")[:3] in {"200", "250"}
        assert ftp.pwd() == "/"
        assert ftp.sendcmd("XCWD /dir").startswith("250")
        assert ftp.sendcmd("XCUP")[:3] in {"200", "250"}
        assert ftp.sendcmd("PWD").startswith('257 "/"')


def test_cwd_to_missing_or_file_is_550(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        for target in ("nope", "hello.txt"):
            with pytest.raises(ftplib.error_perm) as err:
                ftp.cwd(target)
            assert code(err.value) == "550"
        assert ftp.pwd() == "/"


def test_cdup_at_root_stays_at_root(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.sendcmd("CDUP")
        assert ftp.pwd() == "/"


def test_pwd_quotes_embedded_double_quotes(srv: LiveServer) -> None:
    srv.mkdir('/say "hi"')
    with srv.ftp() as ftp:
        ftp.cwd('say "hi"')
        assert ftp.sendcmd("PWD").startswith('257 "/say ""hi"""')


# --------------------------------------------------------------------------- directories


def test_mkd_rmd_and_x_aliases(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("MKD newdir")
        assert reply.startswith('257 "/newdir"'), reply
        assert srv.is_dir("/newdir")
        assert ftp.sendcmd("XMKD other").startswith("257")
        assert srv.is_dir("/other")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.mkd("newdir")
        assert code(err.value) == "550"
        assert ftp.sendcmd("RMD newdir").startswith("250")
        assert ftp.sendcmd("XRMD other").startswith("250")
        assert not srv.exists("/newdir")
        assert not srv.exists("/other")


def test_rmd_refuses_non_empty_dir_and_files(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        for target in ("dir", "hello.txt", "missing"):
            with pytest.raises(ftplib.error_perm) as err:
                ftp.rmd(target)
            assert code(err.value) == "550"
    assert srv.exists("/dir/inner.bin")
    assert srv.exists("/hello.txt")


def test_dele(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.delete("hello.txt").startswith("250")
        assert not srv.exists("/hello.txt")
        for target in ("hello.txt", "dir"):
            with pytest.raises(ftplib.error_perm) as err:
                ftp.delete(target)
            assert code(err.value) == "550"
    assert srv.is_dir("/dir")


def test_rnfr_rnto(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("RNFR hello.txt").startswith("350")
        assert ftp.sendcmd("RNTO dir/renamed.txt").startswith("250")
    assert not srv.exists("/hello.txt")
    assert srv.read("/dir/renamed.txt") == b"hello world\n"


def test_rename_directory(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.rename("dir", "moved")
    assert srv.read("/moved/inner.bin") == bytes(range(256)) * 4
    assert not srv.exists("/dir")


def test_rnfr_missing_is_550_and_rnto_without_rnfr_is_503(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("RNFR nope")
        assert code(err.value) == "550"
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("RNTO x")
        assert code(err.value) == "503"
        # RNFR must be immediately followed by RNTO
        ftp.sendcmd("RNFR hello.txt")
        ftp.sendcmd("NOOP")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("RNTO x")
        assert code(err.value) == "503"
    assert srv.exists("/hello.txt")


# --------------------------------------------------------------------------- transfers


def test_retr_and_stor_binary(srv: LiveServer) -> None:
    payload = bytes(range(256)) * 1000 + b"\r\n\n\r"
    with srv.ftp() as ftp:
        ftp.storbinary("STOR up.bin", io.BytesIO(payload))
        assert srv.read("/up.bin") == payload
        assert retr_bytes(ftp, "up.bin") == payload
        assert retr_bytes(ftp, "/dir/inner.bin") == bytes(range(256)) * 4


def test_stor_replaces_existing_file(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"new"))
    assert srv.read("/hello.txt") == b"new"


def test_retr_missing_or_directory_is_550(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        for target in ("missing.txt", "dir"):
            with pytest.raises(ftplib.error_perm) as err:
                retr_bytes(ftp, target)
            assert code(err.value) == "550"
        assert ftp.sendcmd("NOOP").startswith("200")


def test_stor_into_missing_directory_is_550(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        with pytest.raises(ftplib.error_perm) as err:
            ftp.storbinary("STOR nodir/x.txt", io.BytesIO(b"x"))
        assert code(err.value) in {"550", "553"}
    assert not srv.exists("/nodir")


def test_empty_file_round_trip(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("STOR empty", io.BytesIO(b""))
        assert srv.read("/empty") == b""
        assert retr_bytes(ftp, "empty") == b""
        assert ftp.size("empty") == 0


def test_type_a_converts_crlf_on_upload(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("TYPE A").startswith("200")
        raw_stor(ftp, "STOR text.txt", b"one\r\ntwo\r\nthree\r\n")
    assert srv.read("/text.txt") == b"one\ntwo\nthree\n"


def test_type_a_converts_lf_to_crlf_on_download(srv: LiveServer) -> None:
    srv.put("/unix.txt", b"alpha\nbeta\n\ngamma")
    with srv.ftp() as ftp:
        ftp.sendcmd("TYPE A")
        assert raw_retr(ftp, "RETR unix.txt") == b"alpha\r\nbeta\r\n\r\ngamma"
        ftp.sendcmd("TYPE I")
        assert raw_retr(ftp, "RETR unix.txt") == b"alpha\nbeta\n\ngamma"


def test_type_a_conversion_across_block_boundaries(srv: LiveServer) -> None:
    # A CR and its LF may land in different reads on both sides; the result must not care.
    text = b"".join(b"line %06d\n" % i for i in range(20000))
    srv.put("/big.txt", text)
    with srv.ftp() as ftp:
        ftp.sendcmd("TYPE A")
        wire = raw_retr(ftp, "RETR big.txt")
        assert wire == text.replace(b"\n", b"\r\n")
        raw_stor(ftp, "STOR back.txt", wire)
    assert srv.read("/back.txt") == text


def test_storlines_and_retrlines_in_ascii(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storlines("STOR lines.txt", io.BytesIO(b"a\nb\nc\n"))
        lines: list[str] = []
        ftp.retrlines("RETR lines.txt", lines.append)
    assert srv.read("/lines.txt") == b"a\nb\nc\n"
    assert lines == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("command", "ok"),
    [
        ("TYPE A", True), ("TYPE I", True), ("TYPE L 8", True), ("TYPE A N", True),
        ("TYPE E", False), ("TYPE L 7", False), ("TYPE Q", False),
        ("MODE S", True), ("MODE B", False), ("MODE C", False),
        ("STRU F", True), ("STRU R", False), ("STRU P", False),
    ],
)
def test_type_mode_stru(srv: LiveServer, command: str, ok: bool) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd(command)
        if ok:
            assert reply.startswith("200"), reply
        else:
            assert reply[:3] in {"501", "504"}, reply


def test_rest_resumes_retr(srv: LiveServer) -> None:
    data = bytes(range(256)) * 40
    srv.put("/r.bin", data)
    with srv.ftp() as ftp:
        ftp.voidcmd("TYPE I")
        assert ftp.sendcmd("REST 1000").startswith("350")
        assert raw_retr(ftp, "RETR r.bin") == data[1000:]
        # the restart marker is consumed by the transfer
        assert retr_bytes(ftp, "r.bin") == data
        assert retr_bytes(ftp, "r.bin", rest=len(data)) == b""


def test_rest_resumes_stor(srv: LiveServer) -> None:
    srv.put("/part.bin", b"0123456789")
    with srv.ftp() as ftp:
        ftp.voidcmd("TYPE I")
        ftp.storbinary("STOR part.bin", io.BytesIO(b"ABCDEFGHIJ"), rest=10)
    assert srv.read("/part.bin") == b"0123456789ABCDEFGHIJ"


def test_rest_in_middle_of_stor_overwrites_from_offset(srv: LiveServer) -> None:
    srv.put("/part.bin", b"0123456789")
    with srv.ftp() as ftp:
        ftp.voidcmd("TYPE I")
        ftp.storbinary("STOR part.bin", io.BytesIO(b"abcdefgh"), rest=4)
    assert srv.read("/part.bin")[:12] == b"0123abcdefgh"


def test_appe(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("APPE hello.txt", io.BytesIO(b"more\n"))
        ftp.storbinary("APPE fresh.txt", io.BytesIO(b"first"))
    assert srv.read("/hello.txt") == b"hello world\nmore\n"
    assert srv.read("/fresh.txt") == b"first"


def test_stou_creates_distinct_files(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.voidcmd("TYPE I")
        for payload in (b"one", b"two"):
            conn, _ = ftp.ntransfercmd("STOU")
            with conn:
                conn.sendall(payload)
            # RFC 1123 4.1.2.9: the preliminary reply is "125 FILE: pppp" or "150 FILE: pppp"
            assert ftp.lastresp in {"125", "150"}
            ftp.voidresp()
    stored = [n for n in srv.names("/") if n not in {"hello.txt", "dir"}]
    assert len(stored) == 2
    assert sorted(srv.read("/" + n) for n in stored) == [b"one", b"two"]


def test_stou_reply_text_has_file_name(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        host, port = parse_pasv(raw.cmd("PASV"))
        data = socket.create_connection((host, port), timeout=5)
        try:
            raw.send("STOU\r\n")
            preliminary = raw.reply()
            data.sendall(b"unique")
        finally:
            data.close()
        assert raw.reply().startswith("226")
    match = re.match(r"^(125|150) FILE: (.+)$", preliminary)
    assert match, preliminary
    name = match.group(2).strip()
    assert srv.read("/" + name.lstrip("/")) == b"unique"


def test_allo_is_accepted(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("ALLO 1000")[:3] in {"200", "202"}


def test_abor_without_transfer(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("ABOR")[:3] in {"225", "226"}


# --------------------------------------------------------------------------- info


def test_size(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.voidcmd("TYPE I")
        assert ftp.sendcmd("SIZE hello.txt") == "213 12"
        assert ftp.size("/dir/inner.bin") == 1024
        for target in ("missing", "dir"):
            with pytest.raises(ftplib.error_perm) as err:
                ftp.size(target)
            assert code(err.value) == "550"


def test_mdtm_is_utc(srv: LiveServer) -> None:
    ts = calendar.timegm((2021, 3, 4, 5, 6, 7))
    srv.set_mtime("/hello.txt", ts)
    with srv.ftp() as ftp:
        assert ftp.sendcmd("MDTM hello.txt") == "213 20210304050607"
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("MDTM missing")
        assert code(err.value) == "550"


def test_mfmt_sets_modification_time(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("MFMT 20200102030405 hello.txt")
        assert reply.startswith("213")
        assert "Modify=20200102030405" in reply
        assert ftp.sendcmd("MDTM hello.txt") == "213 20200102030405"
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("MFMT 20200102030405 missing")
        assert code(err.value) == "550"
    stat = srv.call(srv.path_io.stat(srv.real("/hello.txt")))
    assert int(stat.mtime) == calendar.timegm((2020, 1, 2, 3, 4, 5))


def test_upload_updates_mtime(srv: LiveServer) -> None:
    srv.set_mtime("/hello.txt", calendar.timegm((2001, 1, 1, 0, 0, 0)))
    with srv.ftp() as ftp:
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"new"))
        stamp = ftp.sendcmd("MDTM hello.txt")[4:]
    assert abs(calendar.timegm(time.strptime(stamp[:14], "%Y%m%d%H%M%S")) - time.time()) < 120


def test_feat(srv: LiveServer) -> None:
    with srv.ftp(login=None) as ftp:
        reply = ftp.sendcmd("FEAT")
    lines = reply.splitlines()
    assert lines[0].startswith("211-")
    assert lines[-1].startswith("211 ")
    features = {line.strip().split(" ")[0].upper() for line in lines[1:-1]}
    for feature in ("MDTM", "SIZE", "MLST", "UTF8", "EPSV", "EPRT", "REST", "MFMT"):
        assert feature in features, (feature, reply)
    # RFC 2389: feature lines begin with a single space
    assert all(line.startswith(" ") for line in lines[1:-1])
    assert any(line.strip().upper() == "REST STREAM" for line in lines[1:-1])
    mlst = next(line for line in lines if line.strip().upper().startswith("MLST"))
    for fact in ("type", "size", "modify", "perm", "unique"):
        assert fact in mlst.lower()


def test_opts_utf8_and_unicode_names(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
        ftp.storbinary("STOR ñandú-日本.txt", io.BytesIO(b"u"))
        assert "ñandú-日本.txt" in ftp.nlst()
        assert ftp.pwd() == "/"
        ftp.mkd("κατάλογος")
        ftp.cwd("κατάλογος")
        assert ftp.pwd() == "/κατάλογος"
    assert srv.read("/ñandú-日本.txt") == b"u"


def test_opts_mlst_selects_facts(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("OPTS MLST type;size;").startswith("200")
        reply = ftp.sendcmd("MLST hello.txt")
    facts_line = reply.splitlines()[1]
    facts = facts_line.strip().split(" ")[0].lower()
    assert "type=file" in facts
    assert "size=12" in facts
    assert "modify=" not in facts
    assert "perm=" not in facts


def test_opts_unknown_is_an_error(srv: LiveServer) -> None:
    with srv.ftp() as ftp, pytest.raises(ftplib.error_perm) as err:
        ftp.sendcmd("OPTS NOSUCHTHING ON")
    assert code(err.value) in {"501", "502", "504"}


def test_syst_and_noop(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("SYST").startswith("215 UNIX")
        assert ftp.sendcmd("NOOP").startswith("200")


def test_help(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("HELP")
        assert reply.startswith("214")
        for verb in ("RETR", "STOR", "MLSD", "EPSV", "FEAT"):
            assert verb in reply
        assert ftp.sendcmd("HELP RETR").startswith("214")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("HELP NOSUCHVERB")
        assert code(err.value) in {"501", "502", "504"}


def test_stat_without_transfer(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("STAT")
        assert reply.startswith("211")
        listing = ftp.sendcmd("STAT /")
        assert listing[:3] in {"211", "212", "213"}
        assert "hello.txt" in listing
        assert "dir" in listing
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("STAT /missing")
        assert code(err.value) == "550"


def test_site_help(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        assert ftp.sendcmd("SITE HELP")[:3] in {"200", "214"}
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("SITE NOSUCHTHING")
        assert code(err.value) in {"500", "501", "502", "504"}


# --------------------------------------------------------------------------- listings


def test_list_and_nlst(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        lines: list[str] = []
        ftp.retrlines("LIST", lines.append)
        names = sorted(line.split()[-1] for line in lines)
        assert names == ["dir", "hello.txt"]
        assert sorted(ftp.nlst()) == ["dir", "hello.txt"]
        inner = ftp.nlst("dir")
        assert [n.split("/")[-1] for n in inner] == ["inner.bin"]


@pytest.mark.parametrize("options", ["-la", "-a", "-l", "-al", "-aL"])
def test_list_accepts_ls_options(srv: LiveServer, options: str) -> None:
    with srv.ftp() as ftp:
        lines: list[str] = []
        ftp.retrlines(f"LIST {options}", lines.append)
        names = {line.split()[-1] for line in lines}
        assert {"dir", "hello.txt"} <= names
        lines = []
        ftp.retrlines(f"LIST {options} dir", lines.append)
        assert [line.split()[-1] for line in lines] == ["inner.bin"]


def test_list_of_a_file_lists_that_file(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        lines: list[str] = []
        ftp.retrlines("LIST hello.txt", lines.append)
    assert len(lines) == 1
    assert lines[0].split()[-1] == "hello.txt"
    assert " 12 " in lines[0]


def test_list_missing_is_550(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        with pytest.raises(ftplib.error_perm) as err:
            ftp.retrlines("LIST missing", lambda line: None)
        assert code(err.value) == "550"
        assert ftp.sendcmd("NOOP").startswith("200")


def test_mlsd(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        entries = dict(ftp.mlsd("/"))
    assert entries["hello.txt"]["type"] == "file"
    assert entries["hello.txt"]["size"] == "12"
    assert entries["dir"]["type"] == "dir"
    # a cdir entry for "." is optional; a pdir entry at the root would be wrong for "/"
    assert set(entries) - {".", ".."} == {"hello.txt", "dir"}


def test_mlst(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("MLST dir/inner.bin")
        with pytest.raises(ftplib.error_perm) as err:
            ftp.sendcmd("MLST missing")
        assert code(err.value) == "550"
    lines = reply.splitlines()
    assert lines[0].startswith("250-")
    assert lines[-1].startswith("250")
    body = lines[1]
    assert body.startswith(" "), "RFC 3659 7.2: the fact line starts with a space"
    facts, _, name = body[1:].partition(" ")
    assert name in {"/dir/inner.bin", "dir/inner.bin"}
    parsed = dict(f.split("=", 1) for f in facts.rstrip(";").split(";"))
    assert parsed["type"] == "file"
    assert parsed["size"] == "1024"


# --------------------------------------------------------------------------- data channels


def test_pasv_reply_format(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("PASV")
        assert re.match(r"^227 .*\(127,0,0,1,\d+,\d+\)", reply), reply
        host, port = parse_pasv(reply)
        assert host == "127.0.0.1"
        assert port > 0


def test_epsv_reply_format(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("EPSV")
        assert re.match(r"^229 .*\(\|\|\|\d+\|\)", reply), reply
        assert raw.cmd("EPSV 1").startswith("229")
        reply = raw.cmd("EPSV 2")  # IPv6 on an IPv4 control connection
        assert reply.startswith("522"), reply
        reply = raw.cmd("EPSV 7")
        assert reply[:3] in {"501", "522"}, reply


def test_epsv_transfers(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.af = socket.AF_INET6  # makes ftplib use EPSV on an IPv4 connection
        data = retr_bytes(ftp, "hello.txt")
    assert data == b"hello world\n"


def test_epsv_all_refuses_other_data_commands(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        assert raw.cmd("EPSV ALL").startswith("200")
        for command in ("PASV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"):
            reply = raw.cmd(command)
            assert reply[0] in "45", (command, reply)
        assert raw.cmd("EPSV").startswith("229")


def test_active_mode_port(srv: LiveServer) -> None:
    with srv.ftp(passive=False) as ftp:
        assert retr_bytes(ftp, "hello.txt") == b"hello world\n"
        ftp.storbinary("STOR act.bin", io.BytesIO(b"active" * 1000))
        assert sorted(ftp.nlst()) == ["act.bin", "dir", "hello.txt"]
    assert srv.read("/act.bin") == b"active" * 1000


def test_active_mode_eprt(srv: LiveServer) -> None:
    with srv.ftp(passive=False) as ftp, socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        port = listener.getsockname()[1]
        assert ftp.sendcmd(f"EPRT |1|127.0.0.1|{port}|").startswith("200")
        ftp.voidcmd("TYPE I")
        ftp.putcmd("RETR hello.txt")
        assert ftp.getresp()[:3] in {"125", "150"}
        conn, _ = listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        assert ftp.voidresp().startswith("226")
    assert data == b"hello world\n"


def test_eprt_unsupported_protocol_is_522(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("EPRT |9|127.0.0.1|50000|")
        assert reply.startswith("522"), reply


def test_transfer_without_data_connection_setup_is_an_error(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("RETR hello.txt")
        assert reply[:3] in {"425", "503"}, reply
        assert raw.cmd("NOOP").startswith("200")


def test_many_transfers_in_one_session(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        for i in range(30):
            ftp.storbinary(f"STOR f{i}", io.BytesIO(b"%d" % i))
            assert retr_bytes(ftp, f"f{i}") == b"%d" % i
        assert ftp.sendcmd("NOOP").startswith("200")


def test_epsv_connection_is_used_once(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        port = parse_epsv(raw.cmd("EPSV"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as data:
            raw.send("LIST\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            listing = b""
            while chunk := data.recv(65536):
                listing += chunk
            assert raw.reply().startswith("226")
        assert b"hello.txt" in listing
        # a second LIST without a new EPSV has no data connection to use
        reply = raw.cmd("LIST")
        assert reply[:3] in {"425", "503"}, reply


def test_masquerade_address_in_pasv_reply(live_server: StartServer) -> None:
    # only the reply text is checked: nothing ever connects to that address
    live = live_server(masquerade_address="192.0.2.7")
    with live.raw_logged_in() as raw:
        reply = raw.cmd("PASV")
    assert "(192,0,2,7," in reply, reply


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
@pytest.mark.parametrize("setup", ["none", "pasv"])
def test_upload_refused_with_425_touches_nothing(
    live_server: StartServer, verb: str, setup: str
) -> None:
    live = live_server(wait_future_timeout=0.3)
    live.put("/keep.txt", b"precious\n")
    with live.raw_logged_in() as raw:
        if setup == "pasv":
            assert raw.cmd("PASV").startswith("227")  # and then nobody connects
        reply = raw.cmd(f"{verb} keep.txt" if verb != "STOU" else "STOU")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply[:3] in {"425", "503"}, reply
        reply = raw.cmd(f"{verb} new.txt" if verb != "STOU" else "STOU")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply[:3] in {"425", "503"}, reply
    # no transfer took place: no file is created and none is emptied
    assert live.names("/") == ["keep.txt"]
    assert live.read("/keep.txt") == b"precious\n"


@pytest.mark.parametrize("command", ["AUTH TLS", "AUTH SSL", "PBSZ 0", "PROT P"])
def test_tls_commands_without_tls_are_refused_but_not_with_530(
    srv: LiveServer, command: str
) -> None:
    with srv.raw() as raw:
        reply = raw.cmd(command)
        # no TLS configured: a clear refusal (e.g. 502/504/534/503), never "log in first"
        assert reply[0] in "45" and not reply.startswith("530"), reply
        assert raw.cmd("USER user").startswith("331")
        assert raw.cmd("PASS pass").startswith("230")


# ------------------------------------------------- event loops without selector transports


def test_loops_without_selector_transports_take_the_public_path(
    live_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvloop has no ``_make_socket_transport``: create_server and sock_accept serve then.

    The fast paths are switched off here; listings, downloads and a passive channel given
    up unused must behave exactly as with them.
    """
    from pytest_ftpserver.server import channels, server

    monkeypatch.setattr(server, "direct_transports", lambda loop: False)
    monkeypatch.setattr(channels, "direct_transports", lambda loop: False)
    live = live_server()
    ftp = live.ftp()
    try:
        ftp.storbinary("STOR a.bin", io.BytesIO(b"x" * 100_000))
        assert ftp.nlst() == ["a.bin"]
        out = io.BytesIO()
        ftp.retrbinary("RETR a.bin", out.write)
        assert out.getvalue() == b"x" * 100_000
        ftp.sendcmd("PASV")  # a passive port nobody connects to, dropped by the next PASV
        ftp.sendcmd("PASV")
        assert ftp.nlst() == ["a.bin"]
    finally:
        ftp.quit()
