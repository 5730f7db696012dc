"""A real PostgreSQL server for tests: `initdb` + `pg_ctl` in a temp dir on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the `postgres` user
(`nobody` where there is none) through `runuser`, in a temp dir it owns. Password logins over
TCP (scram-sha-256) with a random password; the unix socket lives in the temp dir. The server is
stopped (`pg_ctl stop -m fast`, SIGKILL if that fails) and the dir removed on exit, failures
included. `make test` installs PostgreSQL where it is missing (Makefile, target `postgres`).
"""

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pevl.services import servers as services

SUPERUSER = "pevl"


@dataclass
class Postgres:
    """A running test server: where it listens and how to log in."""

    port: int
    password: str
    root: Path

    def url(self, database: str) -> str:
        """postgresql://pevl:PASSWORD@127.0.0.1:PORT/database."""
        return f"postgresql://{SUPERUSER}:{self.password}@{services.HOST}:{self.port}/{database}"


def pg_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else the newest /usr/lib/postgresql/*/bin (Debian)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    if not candidates:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install postgresql; `make test` does)")
    return candidates[-1]


def run_as() -> tuple[list[str], str | None]:
    """(prefix that runs a program as the server's user, that user) — nothing to add unless root."""
    if os.geteuid() != 0:
        return [], None
    user = "postgres"
    try:
        pwd.getpwnam(user)
    except KeyError:
        user = "nobody"
    return ["runuser", "-u", user, "--"], user


def _run(prefix: list[str], command: list[str], timeout: float) -> None:
    out = subprocess.run(prefix + command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({out.returncode}):\n{out.stdout[-2000:]}")


def _kill_postmaster(data: Path) -> None:
    pid_file = data / "postmaster.pid"
    try:
        os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@contextmanager
def postgres_server(databases: tuple[str, ...] = ("prefect", "mlflow"), timeout: float = 120.0) -> Iterator[Postgres]:
    """A fresh PostgreSQL server with the given (empty) databases, stopped and removed on exit."""
    prefix, user = run_as()
    root = Path(tempfile.mkdtemp(prefix="pevl-pg-"))  # short: the socket path must stay < 108 bytes
    data, started = root / "data", False
    try:
        if user:
            shutil.chown(root, user)
        pg = Postgres(services.free_port(), secrets.token_urlsafe(16), root)
        pw_file = root / "pw"
        pw_file.write_text(pg.password)
        if user:
            shutil.chown(pw_file, user)
        _run(prefix, [pg_bin("initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pw_file}", "-E", "UTF8",
                      "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"], timeout)
        pw_file.unlink()
        options = f"-c listen_addresses={services.HOST} -p {pg.port} -k {root} -c fsync=off"
        started = True
        _run(prefix, [pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                      "-t", str(int(timeout)), "-o", options, "start"], timeout + 10)
        for name in databases:
            _run(prefix, [pg_bin("psql"), "-h", str(root),
                          "-p", str(pg.port), "-U", SUPERUSER, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                          "-c", f'CREATE DATABASE "{name}"'], timeout)
        yield pg
    finally:
        if started:
            try:
                _run(prefix, [pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"], 70)
            except (RuntimeError, subprocess.TimeoutExpired):
                _kill_postmaster(data)
        shutil.rmtree(root, ignore_errors=True)


def query(pg: Postgres, database: str, sql: str) -> list[tuple]:
    """Rows of one SQL query on the test server (psycopg2, over TCP with the password)."""
    import psycopg2

    conn = psycopg2.connect(host=services.HOST, port=pg.port, user=SUPERUSER, password=pg.password,
                            dbname=database, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()
