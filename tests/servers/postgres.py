"""A throw-away PostgreSQL server on 127.0.0.1, from Debian's ``postgresql`` package.

`LocalPostgres().start()` runs ``initdb`` into a new temporary directory (trust authentication,
no fsync: test data only) and starts ``postgres`` listening on 127.0.0.1 at a free port, its
unix socket in that directory; `database(name)` creates a database and returns its SQLAlchemy
URL (``postgresql+psycopg2://postgres@127.0.0.1:PORT/name``); `stop()` stops the server at once
(SIGQUIT, immediate shutdown) and removes the directory.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as the ``postgres``
system user the Debian package creates, and the directory is handed to it. The binaries are
looked up in ``/usr/lib/postgresql/<version>/bin`` (newest first), then on ``PATH``.
`PostgresUnavailable` says what is missing when the server cannot be started (the tests then
skip with that reason). ``.ci/run`` installs the package when it is absent.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here (the message says why)."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: Debian's newest version, else PATH."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    for postgres in sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=version)[::-1]:
        bindir = Path(postgres).parent
        if (bindir / "initdb").exists():
            return bindir
    found = shutil.which("postgres")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL server for the tests of one process (see the module docstring)."""

    def __init__(self, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._run_as: dict = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalPostgres:
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (initdb, postgres): install Debian's "
                "'postgresql' package (.ci/run does it)"
            )
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise PostgresUnavailable("psycopg2 is not installed") from None
        self.root = Path(tempfile.mkdtemp(prefix="costbt-pg-"))
        try:
            self._prepare_user()
            self._initdb(bindir)
            for _attempt in range(3):  # another process may take the free port first
                self.port = _free_port()
                if self._launch(bindir):
                    return self
            raise PostgresUnavailable(f"postgres did not start: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, connect_timeout=5
        )

    def database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, underscores) and return its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    # ------------------------------------------------------------------ internals
    def _prepare_user(self) -> None:
        """As root: run the server as the ``postgres`` user and give it the directory."""
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no 'postgres' system user to run the server as "
                "(Debian's 'postgresql' package creates it)"
            ) from None
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _run_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**env, "LC_ALL": "C", "HOME": str(self.root)}

    def _initdb(self, bindir: Path) -> None:
        res = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.root / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            cwd=self.root,
            env=self._run_env(),
            capture_output=True,
            text=True,
            timeout=120,
            **self._run_as,
        )
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailable(f"initdb failed: {' | '.join(tail)}")

    def _launch(self, bindir: Path) -> bool:
        """Start postgres on ``self.port``; True once it accepts connections."""
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - the server keeps it
        try:
            self.proc = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(self.root / "data"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=100",
                ],
                cwd=self.root,
                env=self._run_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._run_as,
            )
        finally:
            log.close()
        import psycopg2

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                self.connect().close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.05)
        raise PostgresUnavailable(
            f"postgres did not accept connections in {self.start_timeout:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = (self.root / "postgres.log").read_text(errors="replace").strip().splitlines()
        except (OSError, TypeError):
            return "no log"
        return " | ".join(lines[-3:]) or "empty log"
