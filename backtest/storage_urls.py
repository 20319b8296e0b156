"""Tuning storages as the user writes them: the URL normalised, shown without its password, and
probed before any trial runs.

1. **Normalise** (`normalise`): ``postgresql://`` and ``postgres://`` without a driver mean
   psycopg2 (``postgresql+psycopg2://``), the driver in the lock file; SQLAlchemy 2.1 would map
   them to psycopg 3, which is not installed. Every other URL is kept as written.
2. **Redact** (`redact`): a password in the user part or in the query (``password=``,
   ``passwd=``, ``pwd=``) becomes ``***`` wherever a storage is printed or recorded.
3. **Probe** (`probe`), before the panel is read: a journal file must be writable
   (`backtest.output_paths.file_problem`); an SQLite file's folder must exist (SQLite creates
   no folders) and an existing file must be an SQLite database; a PostgreSQL or MySQL URL is
   connected to once. A refused or timed-out connection is the environment failing
   (`StorageError.unavailable`, exit 1); a missing driver, a missing database, a refused login
   or a bad file is bad input (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: Seconds to wait for a database server before calling it unreachable.
CONNECT_TIMEOUT = 10
#: The first bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"
_PASSWORD_KEYS = ("password", "passwd", "pwd")


class StorageError(ValueError):
    """A storage that cannot be used; ``unavailable``: the server could not be reached."""

    def __init__(self, message: str, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


def scheme_of(url: str) -> str:
    """``postgresql`` for ``postgresql+psycopg2://...`` (the dialect, lower case)."""
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def normalise(url: str) -> str:
    """A database URL with psycopg2 named for PostgreSQL when no driver is given."""
    head, sep, rest = url.partition("://")
    if sep and head.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg2://{rest}"
    return url


def redact(storage: str | None) -> str:
    """A storage URL with any password replaced by ``***`` (a journal path is unchanged)."""
    if not storage:
        return "not recorded"
    text = str(storage)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = "&".join(
        f"{k}=***" if k.lower() in _PASSWORD_KEYS else f"{k}={v}" if sep else k
        for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, url: str | None) -> str:
    """``text`` with every password of ``url`` replaced by ``***`` (for error messages that
    quote a URL the way a driver does)."""
    if not url or "://" not in str(url):
        return text
    parts = urlsplit(str(url))
    secrets = [parts.password] if parts.password else []
    secrets += [
        v
        for k, _, v in (item.partition("=") for item in parts.query.split("&") if item)
        if k.lower() in _PASSWORD_KEYS and v
    ]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///path`` URL (None for an in-memory database)."""
    rest = url.split("://", 1)[1]
    if rest in ("", "/", "/:memory:") or rest.startswith("/:memory:"):
        return None
    path = rest[1:] if rest.startswith("/") else rest
    return Path(path.split("?", 1)[0])


def _probe_sqlite(url: str) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    if path.is_dir():
        raise StorageError(f"{path} is a folder, not an SQLite database file")
    if not path.parent.is_dir():
        raise StorageError(
            f"the folder {path.parent} does not exist (SQLite creates no folders): create it or "
            "give another path"
        )
    if path.exists():
        try:
            with open(path, "rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        if head and head != SQLITE_HEADER:
            raise StorageError(f"{path} is not an SQLite database")


def _probe_server(url: str) -> None:
    import sqlalchemy
    import sqlalchemy.exc

    shown = redact(url)
    scheme = scheme_of(url)
    try:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT}
        engine = sqlalchemy.create_engine(url, connect_args=connect_args)
    except ImportError as exc:
        raise StorageError(
            f"no {scheme} driver is installed for {shown} ({exc.name or exc}); "
            + (
                "use postgresql:// or postgresql+psycopg2://"
                if scheme == "postgresql"
                else "install one (for example pymysql) and name it: mysql+pymysql://..."
            )
        ) from None
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise StorageError(f"{shown} is not a database URL: {exc}") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        text = reason[0] if reason else type(exc).__name__
        if "does not exist" in text or "authentication failed" in text:
            raise StorageError(f"{shown}: {text}") from None
        raise StorageError(f"cannot reach {shown}: {text}", unavailable=True) from None
    except sqlalchemy.exc.DBAPIError as exc:
        text = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise StorageError(f"{shown}: {text[0] if text else type(exc).__name__}") from None
    finally:
        engine.dispose()


def probe(spec: str, example: str = "study.log") -> None:
    """Raise `StorageError` unless the storage ``spec`` (normalised URL or journal path) can
    be opened; nothing is created in a database, a missing journal's folder is created."""
    if "://" not in spec:
        from costbt.backtest.output_paths import file_problem

        problem = file_problem(Path(spec), example)
        if problem is not None:
            raise StorageError(problem)
        return
    if scheme_of(spec) == "sqlite":
        _probe_sqlite(spec)
    else:
        _probe_server(spec)


__all__ = [
    "CONNECT_TIMEOUT",
    "StorageError",
    "normalise",
    "probe",
    "redact",
    "scheme_of",
    "scrub",
]
