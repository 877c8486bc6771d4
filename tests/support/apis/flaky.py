"""A raw-socket HTTP server whose first responses break off mid-body the way real connections do,
then answers properly. werkzeug cannot send a broken response, hence raw sockets."""

from __future__ import annotations

import gzip
import socket
import threading
import time


def _head(status: str, *headers: tuple[str, object]) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _complete(body: bytes, packed: bool) -> bytes:
    if packed:
        body = gzip.compress(body)
        return _head("200 OK", ("Content-Encoding", "gzip"), ("Content-Length", len(body))) + body
    return _head("200 OK", ("Content-Length", len(body))) + body


def _short_length(body: bytes) -> bytes:
    """Announces the whole body, sends half of it, closes."""
    return _head("200 OK", ("Content-Length", len(body))) + body[: len(body) // 2]


def _chunk_cut(body: bytes) -> bytes:
    """One chunk announced for the whole body, cut off half-way."""
    return _head("200 OK", ("Transfer-Encoding", "chunked")) + b"%x\r\n" % len(body) + body[: len(body) // 2]


def _gzip_cut(body: bytes) -> bytes:
    """A body delimited by the connection's close (no length: HTTP/1.0 style), gzip-encoded and
    closed half-way: only the gzip stream itself shows that it is incomplete."""
    packed = gzip.compress(body)
    return _head("200 OK", ("Content-Encoding", "gzip")) + packed[: len(packed) // 2]


def _unavailable(body: bytes) -> bytes:
    return _head("503 Service Unavailable", ("Content-Length", 0))


# Each: what a broken response sends before the connection closes. "stall" sends half a body,
# then stays silent past the client's read timeout; "503" is whole, for a retry before any body.
CUTS = {"short_length": _short_length, "chunk_cut": _chunk_cut, "gzip_cut": _gzip_cut,
        "stall": _short_length, "503": _unavailable}


class CuttingServer:
    """Serves `body` (gzip-encoded with `packed`) to every request on 127.0.0.1, except that the
    n-th request gets the n-th entry of `cuts` (a key of CUTS) instead. `requests` holds each
    request line."""

    def __init__(self, body: bytes, cuts: list[str], packed: bool = False, stall_seconds: float = 3.0):
        self.body, self.cuts, self.packed, self.stall_seconds = body, list(cuts), packed, stall_seconds
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def stop(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # stopped
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            with self.lock:
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                cut = self.cuts[len(self.requests) - 1] if len(self.requests) <= len(self.cuts) else None
            conn.sendall(CUTS[cut](self.body) if cut else _complete(self.body, self.packed))
            if cut == "stall":
                time.sleep(self.stall_seconds)
