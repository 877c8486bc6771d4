"""A page GET on the standard library's connections (utils/fastget.py) behaves as requests'
adapter does: each scenario runs on both paths, against a real server on 127.0.0.1 that answers
byte for byte as scripted, and must end the same way (the answer, the error a user sees, how many
requests and connections the server saw)."""

from __future__ import annotations

import datetime
import gzip
import socket
import socketserver
import ssl
import threading
import time

import pytest

from utils import fastget, requests_api


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


OK = answer("200 OK", b'{"data": [1, 2]}', "Content-Type: application/json")


class Scripted(socketserver.ThreadingTCPServer):
    """Answers the n-th request with `answers[n]` (the last one again after the end): bytes to
    write and then `keep` the connection, `close` it, or `stall` (write them, answer nothing more
    on it). `tls` wraps every connection. Counts requests and connections."""

    daemon_threads = allow_reuse_address = True

    def __init__(self, answers: list[tuple[bytes, str]], tls: ssl.SSLContext | None = None):
        self.answers, self.tls, self.requests, self.connections, self.hung_up = answers, tls, 0, 0, 0
        self.lock, self.stop = threading.Lock(), threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"{'https' if tls else 'http'}://localhost:{self.server_address[1]}/v1/items"

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Scripted = self.server
        sock = self.request
        if server.tls:
            try:
                sock = server.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate
        with server.lock:
            server.connections += 1
        data = b""
        while not server.stop.is_set():
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    with server.lock:
                        server.hung_up += 1  # the client closed the connection
                    return
                data += chunk
            data = data.split(b"\r\n\r\n", 1)[1]
            with server.lock:
                n, server.requests = server.requests, server.requests + 1
            reply, then = server.answers[min(n, len(server.answers) - 1)]
            sock.sendall(reply)
            if then == "close":
                return
            if then == "stall":
                server.stop.wait(5)
                return


@pytest.fixture(params=["stdlib", "requests"])
def path(request, monkeypatch):
    """Each test on both paths: utils/fastget.py, and requests' adapter it stands in for."""
    if request.param == "requests":
        monkeypatch.setattr(fastget, "send", lambda *args, **kwargs: None)
    return request.param


@pytest.fixture
def serve():
    servers = []

    def start(answers, tls=None) -> Scripted:
        servers.append(Scripted(answers, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def get(url: str, retries: int = 2, timeout=(2, 2), **kw):
    session = requests_api.new_session(max_retries=retries, backoff_factor=0)
    return requests_api.send(session, "GET", url, params={"page": 1}, timeout=timeout, **kw), session


def failure(url: str, exc_type=requests_api.TransportError, **kw) -> str:
    with pytest.raises(exc_type) as error:
        get(url, **kw)
    return str(error.value)


def test_retryable_statuses_are_retried_with_retry_after_then_answered(path, serve):
    server = serve([(answer("503 Service Unavailable", b"busy"), "keep"),
                    (answer("429 Too Many Requests", b"slow down", "Retry-After: 0"), "keep"), (OK, "keep")])
    resp, _ = get(server.url)
    assert resp.status_code == 200 and resp.json() == {"data": [1, 2]}
    assert server.requests == 3 and server.connections == 1  # one kept-alive connection


def test_a_status_still_failing_after_the_retries_is_the_users_error(path, serve):
    server = serve([(answer("502 Bad Gateway", b"upstream down"), "keep")])
    message = failure(server.url, requests_api.HttpStatusError, retries=2)
    assert message == f"HTTP 502 from {server.url}?page=1: upstream down"
    assert server.requests == 3


def test_a_client_error_is_not_retried(path, serve):
    server = serve([(answer("404 Not Found", b'{"error": "no such page"}'), "keep")])
    message = failure(server.url, requests_api.HttpStatusError)
    assert message.startswith("HTTP 404") and "no such page" in message and server.requests == 1


def test_gzip_and_chunked_bodies_are_decoded(path, serve):
    body = gzip.compress(b'{"data": [3]}')
    chunked = answer("200 OK", f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n",
                     "Transfer-Encoding: chunked", "Content-Encoding: gzip")
    server = serve([(chunked, "keep")])
    resp, _ = get(server.url)
    assert resp.json() == {"data": [3]} and resp.headers["content-encoding"] == "gzip"


def test_a_body_cut_short_is_retried_then_fails(path, serve):
    cut = answer("200 OK", b'{"data": [', "Content-Length: 500")
    server = serve([(cut, "close")])
    assert failure(server.url, retries=2) == \
        f"ProtocolError reading the body from {server.url}, after 3 attempts"
    assert server.requests == 3


def test_a_body_that_stops_coming_times_out_and_is_retried(path, serve):
    server = serve([(answer("200 OK", b'{"data"', "Content-Length: 99"), "stall")])
    assert failure(server.url, retries=1, timeout=(2, 0.2)) == \
        f"ReadTimeoutError reading the body from {server.url}, after 2 attempts"
    assert server.requests == 2


def test_a_body_cut_short_once_is_read_again(path, serve):
    server = serve([(answer("200 OK", b'{"data"', "Content-Length: 99"), "close"), (OK, "keep")])
    resp, _ = get(server.url, retries=1)
    assert resp.json() == {"data": [1, 2]} and server.requests == 2


def test_a_connection_the_server_closed_while_idle_is_not_reused(path, serve):
    server = serve([(OK, "close")])  # keep-alive by HTTP/1.1, but hung up after each answer
    session = requests_api.new_session(max_retries=0)  # a request on a dead connection would fail
    for _ in range(3):
        time.sleep(0.05)  # the hang-up reaches the client before the next request
        assert requests_api.send(session, "GET", server.url).json() == {"data": [1, 2]}
    assert server.requests == 3 and server.connections == 3


def test_idle_connections_are_bounded_per_session_and_closed_with_it(path, serve):
    servers = [serve([(OK, "keep")]) for _ in range(3)]
    session = requests_api.new_session(max_retries=0, pool_size=2)  # 2 origins, 2 idle each
    for server in servers:
        assert requests_api.send(session, "GET", server.url).json() == {"data": [1, 2]}
    assert hung_up(servers) == [1, 0, 0]  # the third origin's pool closed the oldest one's
    session.close()
    assert hung_up(servers) == [1, 1, 1]


def hung_up(servers: list[Scripted]) -> list[int]:
    """How many connections each server saw the client close, once that has settled."""
    seen, deadline = None, time.monotonic() + 3
    while time.monotonic() < deadline:
        now = [server.hung_up for server in servers]
        if now == seen:
            return now
        seen = now
        time.sleep(0.2)
    return seen


def test_a_refused_connection_fails_after_the_retries(path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: refused
    assert failure(f"http://127.0.0.1:{port}/v1/items") == \
        f"ConnectionError calling http://127.0.0.1:{port}/v1/items"


def test_a_server_that_never_answers_times_out(path, serve):
    server = serve([(b"", "stall")])
    assert failure(server.url, retries=1, timeout=(2, 0.2)) == f"ConnectionError calling {server.url}"
    assert server.requests == 2


def test_cookies_the_api_sets_are_kept_by_the_session(path, serve):
    server = serve([(answer("200 OK", b"{}", "Set-Cookie: sid=abc; Path=/", "Set-Cookie: lang=en; Path=/"),
                     "keep")])
    resp, session = get(server.url)
    assert session.cookies.get("sid") == "abc" and session.cookies.get("lang") == "en"
    assert resp.cookies.get("sid") == "abc"


def test_a_redirect_is_followed(path, serve):
    target = serve([(OK, "keep")])
    server = serve([(answer("302 Found", b"", f"Location: {target.url}?page=1"), "keep")])
    resp, _ = get(server.url)
    assert resp.json() == {"data": [1, 2]} and [r.status_code for r in resp.history] == [302]


def test_a_redirect_whose_body_breaks_off_is_still_followed(path, serve):
    target = serve([(OK, "keep")])
    moved = answer("301 Moved Permanently", b"mo", f"Location: {target.url}?page=1", "Content-Length: 40")
    server = serve([(moved, "close")])
    resp, _ = get(server.url)
    assert resp.json() == {"data": [1, 2]} and [r.status_code for r in resp.history] == [301]


def test_a_tls_handshake_that_never_completes_times_out_as_a_read(path, serve):
    server = serve([(b"", "stall")])  # takes the connection, never answers the ClientHello
    url = server.url.replace("http://", "https://")
    assert failure(url, retries=1, timeout=(2, 0.2)) == f"ConnectionError calling {url}"


def make_certificate(folder, names: bool):
    """A self-signed certificate for localhost (in its subject alternative names, or with
    `names=False` only as its common name), made at test time; its file and a server context."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if names:
        cert = cert.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = cert.sign(key, hashes.SHA256())
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return folder / "cert.pem", context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"), names=True)


def test_a_certificate_naming_its_host_only_as_common_name_is_refused(path, serve, tmp_path, monkeypatch):
    cert_path, context = make_certificate(tmp_path, names=False)
    server = serve([(OK, "keep")], tls=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))  # trusted, but not for "localhost"
    assert failure(server.url, retries=0) == f"SSLError calling {server.url}"


def test_https_verifies_against_the_bundle_requests_would_use(path, serve, certificate, monkeypatch):
    cert_path, context = certificate
    server = serve([(OK, "keep")], tls=context)
    # certifi's bundle (requests' default) does not trust a self-signed certificate
    assert failure(server.url, retries=0) == f"SSLError calling {server.url}"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))  # read by requests_api.environment
    resp, session = get(server.url)
    assert resp.json() == {"data": [1, 2]}
    assert bool(session.get_adapter(server.url).fast_pools) == (path == "stdlib")
    session.close()
    assert all(not pool.idle for pool in session.get_adapter(server.url).fast_pools.values())
