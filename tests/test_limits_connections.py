"""maximum_connections per server (421) and per user (530), with slots never leaked."""

from __future__ import annotations

import contextlib
import pathlib

import pytest
from conftest import LiveServer, RawClient, StartServer, wait_until


def connect(live: LiveServer) -> tuple[RawClient, str]:
    client = RawClient(live.host, live.port)
    return client, client.reply()


def login(client: RawClient, user: str = "user", password: str = "pass") -> str:
    reply = client.cmd(f"USER {user}")
    if reply.startswith("331"):
        reply = client.cmd(f"PASS {password}")
    return reply


# --------------------------------------------------------------------------- server limit


def test_connection_beyond_server_limit_gets_421_and_is_closed(
    live_server: StartServer,
) -> None:
    live = live_server(maximum_connections=2)
    first, g1 = connect(live)
    second, g2 = connect(live)
    third, g3 = connect(live)
    with first, second, third:
        assert g1.startswith("220")
        assert g2.startswith("220")
        assert g3.startswith("421"), g3
        assert third.closed_by_peer()
        # the two admitted sessions are unaffected
        assert login(first).startswith("230")
        assert first.cmd("NOOP").startswith("200")
        assert second.cmd("NOOP").startswith("200")


@pytest.mark.parametrize("how", ["quit", "close", "rst"])
def test_slot_is_freed_when_a_session_ends(live_server: StartServer, how: str) -> None:
    live = live_server(maximum_connections=1)
    first, greeting = connect(live)
    assert greeting.startswith("220")
    if how == "quit":
        assert first.cmd("QUIT").startswith("221")
        assert first.closed_by_peer()
        first.close()
    elif how == "close":
        first.close()
    else:
        first.reset()
    assert wait_until(lambda: live.stats.connections_active == 0, timeout=3)
    second, greeting = connect(live)
    with second:
        assert greeting.startswith("220"), greeting


def test_after_quit_the_slot_is_free_at_once(live_server: StartServer) -> None:
    live = live_server(maximum_connections=1)
    for _ in range(10):
        client, greeting = connect(live)
        with client:
            assert greeting.startswith("220"), greeting
            assert client.cmd("QUIT").startswith("221")
            # once the server has closed the connection, the slot is already free
            assert client.closed_by_peer()


def test_refused_connections_do_not_consume_slots(live_server: StartServer) -> None:
    live = live_server(maximum_connections=1)
    keeper, greeting = connect(live)
    with keeper:
        assert greeting.startswith("220")
        for _ in range(20):
            extra, refused = connect(live)
            with extra:
                assert refused.startswith("421")
        assert login(keeper).startswith("230")
    assert wait_until(lambda: live.stats.connections_active == 0, timeout=3)
    again, greeting = connect(live)
    with again:
        assert greeting.startswith("220")


# --------------------------------------------------------------------------- user limit


@pytest.fixture
def limited(live_server: StartServer, tmp_path: pathlib.Path) -> LiveServer:
    from pytest_ftpserver import User

    base = tmp_path / "root"
    base.mkdir()
    users = [
        User("user", "pass", base_path=base, maximum_connections=1),
        User("other", "pass", base_path=base),
    ]
    return live_server(users, base=base)


def test_login_beyond_user_limit_gets_530(limited: LiveServer) -> None:
    first, _ = connect(limited)
    second, _ = connect(limited)
    with first, second:
        assert login(first).startswith("230")
        assert login(second).startswith("530")
        # the refused session stays connected and can log in as someone else
        assert login(second, "other").startswith("230")
        assert second.cmd("PWD").startswith("257")


def _assert_slot_free(live: LiveServer) -> None:
    def can_login() -> bool:
        client, _ = connect(live)
        with client:
            return login(client).startswith("230")

    assert wait_until(can_login, timeout=3, step=0.1)


@pytest.mark.parametrize("how", ["quit", "rein", "close", "rst"])
def test_user_slot_is_released(limited: LiveServer, how: str) -> None:
    first, _ = connect(limited)
    try:
        assert login(first).startswith("230")
        if how == "quit":
            first.cmd("QUIT")
        elif how == "rein":
            assert first.cmd("REIN").startswith("220")
        elif how == "close":
            first.close()
        else:
            first.reset()
        _assert_slot_free(limited)
    finally:
        first.close()


def test_repeated_logins_on_one_connection_hold_one_slot(limited: LiveServer) -> None:
    client, _ = connect(limited)
    with client:
        for _ in range(10):
            assert login(client).startswith("230")
            assert client.cmd("REIN").startswith("220")
        assert login(client).startswith("230")
        other, _ = connect(limited)
        with other:
            assert login(other).startswith("530")
    _assert_slot_free(limited)


def test_failed_logins_do_not_take_slots(limited: LiveServer) -> None:
    for _ in range(5):
        client, _ = connect(limited)
        with client:
            assert login(client, password="wrong").startswith("530")
    client, _ = connect(limited)
    with client:
        assert login(client).startswith("230")


def test_refused_login_does_not_take_a_slot(limited: LiveServer) -> None:
    holder, _ = connect(limited)
    with holder:
        assert login(holder).startswith("230")
        for _ in range(5):
            extra, _ = connect(limited)
            with extra:
                assert login(extra).startswith("530")
    _assert_slot_free(limited)


def test_user_limit_counts_only_that_user(limited: LiveServer) -> None:
    clients = [connect(limited)[0] for _ in range(4)]
    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client)
        assert [login(c, "other")[:3] for c in clients] == ["230"] * 4
        extra, _ = stack.enter_context(contextlib.nullcontext(connect(limited)))
        stack.enter_context(extra)
        assert login(extra).startswith("230")
