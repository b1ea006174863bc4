"""Upgrading a connection to TLS (AUTH TLS, PROT P data connections).

``loop.start_tls``, with one repair on Python 3.10's own event loop. Its SSL protocol
drops the close_notify it owes a client that closed TLS first: once the client's
close_notify arrives it closes the socket transport, and only then writes its reply, which
the closed transport discards. ftplib unwraps the data connection after every upload
(``storbinary``) and failed there with "EOF occurred in violation of protocol" although the
file was stored. The SSL protocol of 3.11 was rewritten and answers correctly.

Data connections get no TLS 1.3 session tickets (``data_context``): a client that never
reads from an upload's data connection (lftp) closes it with the tickets unread, its
kernel answers with a reset, and the reset discards the end of the upload on our side.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from typing import Any

# The SSL protocol of 3.10 and before works through an "_SSLPipe"; 3.11's has none.
_DROPS_CLOSE_NOTIFY = hasattr(sslproto, "_SSLPipe")


async def start_tls(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
) -> asyncio.Transport | None:
    """Server side TLS on ``transport``; returns the TLS transport, as ``loop.start_tls``."""
    tls_transport = await loop.start_tls(transport, protocol, context, server_side=True)
    if _DROPS_CLOSE_NOTIFY and tls_transport is not None:  # pragma: no cover -- 3.10
        ssl_protocol = getattr(tls_transport, "_ssl_protocol", None)
        if ssl_protocol is not None and hasattr(ssl_protocol, "_finalize"):
            _close_one_turn_later(ssl_protocol)
    return tls_transport


class _DataContext(ssl.SSLContext):
    """Makes TLS objects from another server context, without session tickets.

    Only ``wrap_bio`` (all asyncio calls) is meant for use. The objects belong to the
    real context, so that data connections still resume the control connection's
    session with the tickets it issued.
    """

    _real: ssl.SSLContext

    def __new__(cls, real: ssl.SSLContext) -> _DataContext:
        self = super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)
        self._real = real
        return self

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        real = self._real
        # OpenSSL copies the count into each new connection: set it for this one only.
        # Every call runs in the event loop's thread, and nothing runs in between.
        saved = real.num_tickets
        real.num_tickets = 0
        try:
            return real.wrap_bio(*args, **kwargs)
        finally:
            real.num_tickets = saved


def data_context(context: ssl.SSLContext) -> ssl.SSLContext:
    """The context to give ``start_tls`` for a data connection (see the module text).

    ``context`` itself when its ticket count cannot be changed (not a server context,
    or a TLS library without TLS 1.3).
    """
    try:
        saved = context.num_tickets
        context.num_tickets = saved
    except (AttributeError, ValueError):
        return context
    return _DataContext(context)


def _close_one_turn_later(ssl_protocol: Any) -> None:  # pragma: no cover -- 3.10
    """Make the legacy protocol close its socket transport one loop turn after the TLS
    shutdown, so that the close_notify it writes right after goes out first."""

    def finalize() -> None:
        ssl_protocol._sslpipe = None
        transport = ssl_protocol._transport
        if transport is not None:
            ssl_protocol._loop.call_soon(transport.close)

    ssl_protocol._finalize = finalize
