"""Brute force: failed logins are delayed, and a connection is closed after N failures."""

from __future__ import annotations

import threading
import time

from conftest import StartServer, wait_until


def fail_once(raw: object, password: str = "wrong") -> str:
    reply = raw.cmd("USER user")  # type: ignore[attr-defined]
    if reply.startswith("331"):
        reply = raw.cmd(f"PASS {password}")  # type: ignore[attr-defined]
    return str(reply)


def test_failed_login_is_delayed(live_server: StartServer) -> None:
    live = live_server(login_failure_delay=0.5)
    with live.raw() as raw:
        started = time.monotonic()
        assert fail_once(raw).startswith("530")
        assert time.monotonic() - started >= 0.45
        # a good login right after is not delayed
        started = time.monotonic()
        raw.cmd("USER user")
        assert raw.cmd("PASS pass").startswith("230")
        assert time.monotonic() - started < 0.45


def test_delay_does_not_block_other_clients(live_server: StartServer) -> None:
    live = live_server(login_failure_delay=1.5)
    with live.raw() as attacker, live.raw_logged_in() as honest:
        attacker.send("USER user\r\nPASS wrong\r\n")
        time.sleep(0.1)  # the attacker's failure is now being delayed
        started = time.monotonic()
        for _ in range(10):
            assert honest.cmd("NOOP").startswith("200")
        assert time.monotonic() - started < 1.0
        assert attacker.reply().startswith("331")
        assert attacker.reply().startswith("530")


def test_connection_closed_after_max_failures(live_server: StartServer) -> None:
    live = live_server(max_login_failures=3)
    with live.raw() as raw:
        assert fail_once(raw).startswith("530")
        assert fail_once(raw).startswith("530")
        third = fail_once(raw)
        assert third[:3] in {"530", "421"}, third
        if third.startswith("530"):
            # the refusal may be followed by a 421 goodbye
            raw.sock.settimeout(5)
            try:
                extra = raw.reply()
                assert extra.startswith("421"), extra
            except EOFError:
                pass
        assert raw.closed_by_peer()
    assert wait_until(lambda: live.stats.connections_active == 0)
    assert live.stats.failed_logins == 3


def test_default_max_login_failures_is_small(live_server: StartServer) -> None:
    live = live_server()
    with live.raw() as raw:
        closed = False
        for _ in range(6):
            try:
                reply = fail_once(raw)
            except (EOFError, ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if reply.startswith("421"):
                closed = True
                break
        assert closed or raw.closed_by_peer(timeout=1.0)
    assert 3 <= live.stats.failed_logins <= 5


def test_failures_on_other_connections_do_not_lock_out_the_user(
    live_server: StartServer,
) -> None:
    live = live_server(max_login_failures=2)
    for _ in range(3):
        with live.raw() as raw:
            fail_once(raw)
            fail_once(raw)
            assert raw.closed_by_peer()
    with live.raw_logged_in() as raw:
        assert raw.cmd("PWD").startswith("257")


def test_unknown_user_fails_like_a_wrong_password(live_server: StartServer) -> None:
    live = live_server(login_failure_delay=0.3)
    with live.raw() as raw:
        user_reply = raw.cmd("USER nobody")
        if user_reply.startswith("331"):
            started = time.monotonic()
            assert raw.cmd("PASS whatever").startswith("530")
            assert time.monotonic() - started >= 0.25
        else:
            assert user_reply.startswith("530")


def test_parallel_brute_force_does_not_stop_service(live_server: StartServer) -> None:
    live = live_server(login_failure_delay=0.2, max_login_failures=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def attacker() -> None:
        try:
            while not stop.is_set():
                with live.raw() as raw:
                    try:
                        fail_once(raw)
                        fail_once(raw)
                    except (EOFError, ConnectionResetError, BrokenPipeError):
                        pass
        except BaseException as exc:  # a refused connection would be a finding
            errors.append(exc)

    threads = [threading.Thread(target=attacker) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with live.ftp() as ftp:
            for _ in range(10):
                assert ftp.sendcmd("NOOP").startswith("200")
            assert ftp.nlst() == []
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert not errors, errors
    assert live.stats.failed_logins >= 8
