"""Database URLs of the servers `pevl up` starts: SQLite under the state dir, or PostgreSQL.

One URL names a PostgreSQL database for either server (`postgresql://user:password@host:5432/db`);
Prefect gets it with its async driver (`postgresql+asyncpg://`), MLflow with psycopg2 named
(`postgresql+psycopg2://`: SQLAlchemy 2.1's default for `postgresql://` is psycopg 3). URLs travel
to the servers in their environment only, never on a command line or in a pid record, and
whatever is shown or logged is `redact(url)` (the password as `***`).
"""

import re
from urllib.parse import urlsplit, urlunsplit

PREFECT_DB_ENV = "PEVL_PREFECT_DB"  # default of `pevl up --prefect-db`
MLFLOW_DB_ENV = "PEVL_MLFLOW_DB"  # default of `pevl up --mlflow-db`
SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2")
_SCHEME = re.compile(r"^([a-z0-9+]+)://", re.I)


def _scheme(url: str) -> str:
    match = _SCHEME.match(url)
    if not match or match.group(1).lower() not in SCHEMES:  # the URL itself is not echoed: it may hold a password
        got = f"scheme {match.group(1)!r}" if match else "no scheme"
        raise ValueError(f"not a PostgreSQL URL ({got}); expected postgresql://user:password@host:port/db")
    return match.group(1)


def with_driver(url: str, driver: str | None) -> str:
    """url with its scheme set to postgresql (driver None) or postgresql+driver."""
    rest = url[len(_scheme(url)) + 3:]
    return f"postgresql{'+' + driver if driver else ''}://{rest}"


def prefect_url(url: str) -> str:
    """The URL as Prefect's server takes it (PREFECT_API_DATABASE_CONNECTION_URL): asyncpg."""
    return with_driver(url, "asyncpg")


def mlflow_url(url: str) -> str:
    """The URL as MLflow's server takes it (MLFLOW_BACKEND_STORE_URI): psycopg2."""
    return with_driver(url, "psycopg2")


def redact(url: str) -> str:
    """url with its password replaced by *** (for logs, pid records and messages)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname or ''}{port}"))
