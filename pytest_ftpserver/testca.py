"""A throw-away certificate authority for FTPS in tests (and for the command line).

One :class:`TestCA` is made per pytest session (and per ``python -m pytest_ftpserver --tls``
run). It issues one server certificate valid for ``127.0.0.1``, ``::1`` and ``localhost`` and
writes the CA certificate to a PEM file, so that any client (``ftplib.FTP_TLS``, aioftp,
``curl --cacert``, ``lftp`` with ``ssl:ca-file``) can verify the server as it would verify a
real one. Certificates are made by ``trustme`` (the ``tls`` extra), imported only when a CA
is actually needed.
"""

from __future__ import annotations

import pathlib
import ssl
from typing import Any

__all__ = ["SERVER_NAMES", "TestCA"]

#: The names the server certificate is valid for: every loopback address a test may bind.
SERVER_NAMES: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


def _import_trustme() -> Any:
    try:
        import trustme
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "FTPS with a generated test certificate needs trustme: "
            "pip install 'pytest-ftpserver[tls]' (or pass your own ssl=SSLContext)"
        ) from exc
    return trustme


class TestCA:
    """A certificate authority and one server certificate, both made in memory.

    ``directory`` receives ``ca.pem``, the CA certificate that clients should trust; the
    server key stays in memory unless :meth:`write_server_files` is called.
    """

    # Not a test class, whatever its name says.
    __test__ = False

    def __init__(self, directory: str | pathlib.Path) -> None:
        trustme = _import_trustme()
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="pytest-ftpserver test CA")
        self._server_cert = self._ca.issue_cert(*SERVER_NAMES)
        self.ca_cert_path = self.directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_cert_path))
        self._server_context: ssl.SSLContext | None = None

    @property
    def ca_cert_pem(self) -> bytes:
        """The CA certificate, PEM encoded."""
        return bytes(self._ca.cert_pem.bytes())

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context holding the certificate (made once, then shared)."""
        if self._server_context is None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._server_cert.configure_cert(context)
            self._server_context = context
        return self._server_context

    def client_ssl_context(self) -> ssl.SSLContext:
        """A new client-side context that trusts this CA and checks host names."""
        return ssl.create_default_context(cafile=str(self.ca_cert_path))

    def write_server_files(self) -> tuple[pathlib.Path, pathlib.Path]:
        """Write the server certificate chain and key as PEM files; return their paths.

        For servers that take file names rather than an ``SSLContext``.
        """
        cert_path = self.directory / "server.pem"
        key_path = self.directory / "server.key"
        self._server_cert.cert_chain_pems[0].write_to_path(str(cert_path))
        for extra in self._server_cert.cert_chain_pems[1:]:
            extra.write_to_path(str(cert_path), append=True)
        self._server_cert.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        return cert_path, key_path
