"""Empty, fully migrated SQLite databases for the test servers, made once per test run.

A Prefect or MLflow server started on an empty state dir first runs every schema migration of its
database (~5 s of CPU each, measured); the test servers instead start on a copy of a database that
was migrated once for the whole run (tests/run_cache.py), which is the same database the server
would have made. Copies go through SQLite's backup API, so they are complete even mid-write.
"""

import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from pevl.services import servers as services
from run_cache import once

# Where each server keeps its SQLite database under its state dir (pevl.services.servers).
PREFECT_DB = Path("prefect") / "prefect.db"  # PREFECT_HOME = <state>/prefect
MLFLOW_DB = Path("mlflow") / "mlflow.db"  # --backend-store-uri sqlite:///<state>/mlflow/mlflow.db
DATABASE_URL_SETTINGS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database source at target (a new file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def make_prefect_db(path: Path) -> None:
    """An empty Prefect database at its latest migration: `prefect server database upgrade` in a temp home."""
    with tempfile.TemporaryDirectory(prefix="pevl-prefect-home-") as home:
        env = {k: v for k, v in os.environ.items() if k not in DATABASE_URL_SETTINGS}
        env.update(services.QUIET_ENV, PREFECT_HOME=home)
        out = subprocess.run([services.console_script("prefect"), "server", "database", "upgrade", "-y"], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"prefect server database upgrade failed ({out.returncode}):\n"
                               f"{(out.stdout + out.stderr)[-2000:]}")
        copy_sqlite(Path(home) / "prefect.db", path)


def make_mlflow_db(path: Path) -> None:
    """An empty MLflow database at its latest migration, its Default experiment where `mlflow server
    --artifacts-destination` puts it (mlflow-artifacts:/0)."""
    from mlflow.store.tracking import DEFAULT_ARTIFACTS_URI
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(prefix="pevl-mlflow-db-") as tmp:
        store = SqlAlchemyStore(f"sqlite:///{tmp}/mlflow.db", DEFAULT_ARTIFACTS_URI)
        store.engine.dispose()
        copy_sqlite(Path(tmp) / "mlflow.db", path)


def seed_server_databases(state: Path, names: tuple[str, ...] = ("prefect", "mlflow")) -> None:
    """Put the run's migrated database of each named server ("prefect", "mlflow") under state, where
    that server will look for it; a database already there (a server started again) is kept."""
    makers = {"prefect": (PREFECT_DB, make_prefect_db), "mlflow": (MLFLOW_DB, make_mlflow_db)}
    for name in names:
        relative, make = makers[name]
        if not (state / relative).exists():
            copy_sqlite(once(f"{name}-server.db", make), state / relative)
