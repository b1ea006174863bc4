"""Upgrading a connection to TLS (AUTH TLS, PROT P data connections).

``loop.start_tls`` everywhere, except on Python 3.10's own event loop. Its SSL protocol
drops the close_notify it owes a client that closed TLS first: once the client's
close_notify arrives it closes the socket transport, and only then writes its reply, which
the closed transport discards. ftplib unwraps the data connection after every upload
(``storbinary``) and failed there with "EOF occurred in violation of protocol" although the
file was stored. The 3.11 SSL protocol was rewritten and answers correctly.
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
    if not _DROPS_CLOSE_NOTIFY or not isinstance(loop, asyncio.BaseEventLoop):
        return await loop.start_tls(transport, protocol, context, server_side=True)
    return await _start_tls_310(loop, transport, protocol, context)  # pragma: no cover


if _DROPS_CLOSE_NOTIFY:  # pragma: no cover -- Python 3.10 only

    class _SSLProtocol(sslproto.SSLProtocol):  # type: ignore[misc,name-defined,unused-ignore]
        """3.10's SSL protocol, closing the socket one loop turn after the shutdown, so
        that the close_notify written in between goes out."""

        def _finalize(self) -> None:
            self._sslpipe = None
            transport = self._transport
            if transport is not None:
                self._loop.call_soon(transport.close)

    async def _start_tls_310(
        loop: asyncio.AbstractEventLoop,
        transport: Any,
        protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext,
    ) -> asyncio.Transport | None:
        # What 3.10's BaseEventLoop.start_tls does, with the protocol above.
        waiter = loop.create_future()
        ssl_protocol = _SSLProtocol(
            loop, protocol, context, waiter, True, None, call_connection_made=False
        )
        transport.pause_reading()
        transport.set_protocol(ssl_protocol)
        made = loop.call_soon(ssl_protocol.connection_made, transport)
        resumed = loop.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            transport.close()
            made.cancel()
            resumed.cancel()
            raise
        app_transport: asyncio.Transport = ssl_protocol._app_transport
        return app_transport
