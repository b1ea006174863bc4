"""Upgrading a connection to TLS (AUTH TLS, PROT P data connections).

``loop.start_tls``, with one repair on Python 3.10's own event loop. Its SSL protocol
drops the close_notify it owes a client that closed TLS first: once the client's
close_notify arrives it closes the socket transport, and only then writes its reply, which
the closed transport discards. ftplib unwraps the data connection after every upload
(``storbinary``) and failed there with "EOF occurred in violation of protocol" although the
file was stored. The SSL protocol of 3.11 was rewritten and answers correctly.
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


def _close_one_turn_later(ssl_protocol: Any) -> None:  # pragma: no cover -- 3.10
    """Make the legacy protocol close its socket transport one loop turn after the TLS
    shutdown, so that the close_notify it writes right after goes out first."""

    def finalize() -> None:
        ssl_protocol._sslpipe = None
        transport = ssl_protocol._transport
        if transport is not None:
            ssl_protocol._loop.call_soon(transport.close)

    ssl_protocol._finalize = finalize
