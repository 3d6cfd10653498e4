"""A loopback HTTPS server whose TLS is GnuTLS, to test servers OpenSSL cannot imitate.

Why GnuTLS: a server that does not support RFC 5746 secure renegotiation (it omits the
`renegotiation_info` extension from its ServerHello) is what old government sites run, and
OpenSSL 3's client refuses it unless `OP_LEGACY_SERVER_CONNECT` is set. Python's ssl module
(OpenSSL) always answers the extension as a server, and OpenSSL has no switch to stop it.
GnuTLS does: its documented priority keyword `%DISABLE_SAFE_RENEGOTIATION` makes it a server
that really omits the extension. `gnutls-serv` would show that too, but it listens on every
interface and serves only its own status page; so the TLS library itself (libgnutls30, via
ctypes and its public C API) terminates TLS here, under the same HTTP handler as the project's
MediaServer: real files, Range, request records. Only loopback; every socket read and write
is bounded by a socket timeout, so nothing can hang.

TLS 1.3 is disabled in both priorities: renegotiation (and so RFC 5746) exists only up to
TLS 1.2, and an old server does not speak 1.3 anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource

SAFE_PRIORITY = "NORMAL:-VERS-TLS1.3"
LEGACY_PRIORITY = "NORMAL:-VERS-TLS1.3:%DISABLE_SAFE_RENEGOTIATION"
IO_TIMEOUT = 10.0  # seconds, per socket read or write (SO_RCVTIMEO/SO_SNDTIMEO)

GNUTLS_SERVER = 1
GNUTLS_CRD_CERTIFICATE = 1
GNUTLS_X509_FMT_PEM = 1
GNUTLS_SHUT_WR = 1
GNUTLS_E_AGAIN = -28
GNUTLS_E_INTERRUPTED = -52


class GnuTLSError(OSError):
    """A GnuTLS call failed (OSError, so http.server treats it like a socket error)."""


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("gnutls") or "libgnutls.so.30"
    lib = ctypes.CDLL(name)
    vp, cp, i, u, sz = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                        ctypes.c_size_t)
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "gnutls_check_version": (cp, [cp]),
        "gnutls_certificate_allocate_credentials": (i, [ctypes.POINTER(vp)]),
        "gnutls_certificate_set_x509_key_file": (i, [vp, cp, cp, i]),
        "gnutls_certificate_free_credentials": (None, [vp]),
        "gnutls_init": (i, [ctypes.POINTER(vp), u]),
        "gnutls_deinit": (None, [vp]),
        "gnutls_priority_set_direct": (i, [vp, cp, ctypes.POINTER(cp)]),
        "gnutls_credentials_set": (i, [vp, i, vp]),
        "gnutls_transport_set_int2": (None, [vp, i, i]),
        "gnutls_handshake_set_timeout": (None, [vp, u]),
        "gnutls_handshake": (i, [vp]),
        "gnutls_error_is_fatal": (i, [i]),
        "gnutls_strerror": (cp, [i]),
        "gnutls_record_recv": (ctypes.c_ssize_t, [vp, vp, sz]),
        "gnutls_record_send": (ctypes.c_ssize_t, [vp, vp, sz]),
        "gnutls_bye": (i, [vp, i]),
        "gnutls_safe_renegotiation_status": (u, [vp]),
        "gnutls_protocol_get_version": (i, [vp]),
        "gnutls_protocol_get_name": (cp, [i]),
    }
    for function, (restype, argtypes) in signatures.items():
        getattr(lib, function).restype = restype
        getattr(lib, function).argtypes = argtypes
    return lib


_LIB: ctypes.CDLL | None = None


def gnutls() -> ctypes.CDLL:
    """libgnutls, loaded once (ctypes releases the GIL during each call)."""
    global _LIB
    if _LIB is None:
        _LIB = _library()
    return _LIB


def gnutls_version() -> str:
    raw = gnutls().gnutls_check_version(None)
    return raw.decode() if raw else "unknown"


def _check(code: int, what: str) -> int:
    if code < 0:
        message = gnutls().gnutls_strerror(code)
        raise GnuTLSError(f"{what}: {message.decode() if message else code} ({code})")
    return code


@dataclass
class Handshake:
    """What the server negotiated on one connection (read after its handshake)."""

    protocol: str
    safe_renegotiation: bool


class _Credentials:
    """A certificate and key loaded into GnuTLS (shared by every connection)."""

    def __init__(self, certs: CertSet) -> None:
        self.handle = ctypes.c_void_p()
        _check(gnutls().gnutls_certificate_allocate_credentials(ctypes.byref(self.handle)),
               "allocate credentials")
        _check(gnutls().gnutls_certificate_set_x509_key_file(
            self.handle, str(certs.chain).encode(), str(certs.key).encode(),
            GNUTLS_X509_FMT_PEM), "load certificate")

    def close(self) -> None:
        if self.handle:
            gnutls().gnutls_certificate_free_credentials(self.handle)
            self.handle = ctypes.c_void_p()


class _RecordReader(io.RawIOBase):
    def __init__(self, connection: GnuTLSConnection) -> None:
        self.connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.connection.recv_into(buffer)


class GnuTLSConnection:
    """A server-side TLS connection over an accepted socket, with the socket calls that
    http.server uses (makefile, sendall, shutdown, close). The handshake runs on first use,
    in the handler's thread, like `do_handshake_on_connect=False`."""

    def __init__(self, sock: socket.socket, credentials: _Credentials, priority: str,
                 on_handshake: Any) -> None:
        self.sock = sock
        timeout = struct.pack("ll", int(IO_TIMEOUT), 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        self.session = ctypes.c_void_p()
        self.on_handshake = on_handshake
        self.shook = False
        self.lock = threading.Lock()
        lib = gnutls()
        _check(lib.gnutls_init(ctypes.byref(self.session), GNUTLS_SERVER), "init")
        error = ctypes.c_char_p()
        _check(lib.gnutls_priority_set_direct(self.session, priority.encode(),
                                              ctypes.byref(error)), f"priority {priority!r}")
        _check(lib.gnutls_credentials_set(self.session, GNUTLS_CRD_CERTIFICATE,
                                          credentials.handle), "credentials")
        lib.gnutls_transport_set_int2(self.session, sock.fileno(), sock.fileno())
        lib.gnutls_handshake_set_timeout(self.session, int(IO_TIMEOUT * 1000))

    def _handshake(self) -> None:
        if self.shook:
            return
        lib = gnutls()
        while True:
            code = lib.gnutls_handshake(self.session)
            if code >= 0 or lib.gnutls_error_is_fatal(code):
                break
        _check(code, "handshake")
        self.shook = True
        name = lib.gnutls_protocol_get_name(lib.gnutls_protocol_get_version(self.session))
        self.on_handshake(Handshake(
            protocol=name.decode() if name else "unknown",
            safe_renegotiation=bool(lib.gnutls_safe_renegotiation_status(self.session))))

    def recv_into(self, buffer: Any) -> int:
        self._handshake()
        view = memoryview(buffer).cast("B")
        target = (ctypes.c_char * len(view)).from_buffer(view)
        while True:
            got = gnutls().gnutls_record_recv(self.session, target, len(view))
            if got == GNUTLS_E_INTERRUPTED:
                continue
            if got == GNUTLS_E_AGAIN:
                raise TimeoutError("TLS read timed out")
            return _check(got, "read")

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self._handshake()
        payload = bytes(data)
        sent = 0
        while sent < len(payload):
            chunk = payload[sent:]
            got = gnutls().gnutls_record_send(self.session, chunk, len(chunk))
            if got == GNUTLS_E_INTERRUPTED:
                continue
            if got == GNUTLS_E_AGAIN:
                raise TimeoutError("TLS write timed out")
            sent += _check(got, "write")

    def makefile(self, mode: str = "rb", buffering: int = -1) -> io.BufferedReader:
        assert mode == "rb", mode
        return io.BufferedReader(_RecordReader(self), buffering if buffering > 0 else 8192)

    def fileno(self) -> int:
        return self.sock.fileno()

    def settimeout(self, value: float | None) -> None:
        del value  # SO_RCVTIMEO/SO_SNDTIMEO bound every call already

    def shutdown(self, how: int) -> None:
        with self.lock:
            if self.shook and self.session:
                gnutls().gnutls_bye(self.session, GNUTLS_SHUT_WR)
        self.sock.shutdown(how)

    def close(self) -> None:
        with self.lock:
            if self.session:
                gnutls().gnutls_deinit(self.session)
                self.session = ctypes.c_void_p()
        self.sock.close()


class GnuTLSMediaServer(MediaServer):
    """The project's MediaServer with GnuTLS instead of Python's ssl (see the module doc).

    `handshakes` lists what each completed handshake negotiated; `requests` (inherited) every
    HTTP request that reached the handler.
    """

    def __init__(self, resources: dict[str, Resource], certs: CertSet, priority: str) -> None:
        self.priority = priority
        self.handshakes: list[Handshake] = []
        self.credentials = _Credentials(certs)
        super().__init__(resources, None)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host!s}:{port}"

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        return GnuTLSConnection(sock, self.credentials, self.priority,
                                self.handshakes.append), address

    def stop(self) -> None:
        super().stop()
        self.credentials.close()
