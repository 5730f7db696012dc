"""An empty, fully migrated SQLite database for the test MLflow servers, made once per test run.

An MLflow server started on an empty state dir first runs every schema migration of its database
(~5 s of CPU, measured); the test servers instead start on a copy of a database that was migrated
once for the whole run (tests/run_cache.py), which is the same database the server would have made.
Copies go through SQLite's backup API, so they are complete even mid-write. Prefect servers start
on an empty state dir: on a copy of a database migrated by `prefect server database upgrade`, the
server answered its health check but `pevl serve` never got its deployments registered.
"""

import sqlite3
import tempfile
from pathlib import Path

from run_cache import once

MLFLOW_DB = Path("mlflow") / "mlflow.db"  # --backend-store-uri sqlite:///<state>/mlflow/mlflow.db


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite database source at target (a new file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def make_mlflow_db(path: Path) -> None:
    """An empty MLflow database at its latest migration, its Default experiment where `mlflow server
    --artifacts-destination` puts it (mlflow-artifacts:/0)."""
    from mlflow.store.tracking import DEFAULT_ARTIFACTS_URI
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(prefix="pevl-mlflow-db-") as tmp:
        store = SqlAlchemyStore(f"sqlite:///{tmp}/mlflow.db", DEFAULT_ARTIFACTS_URI)
        store.engine.dispose()
        copy_sqlite(Path(tmp) / "mlflow.db", path)


def seed_server_databases(state: Path) -> None:
    """Put the run's migrated MLflow database under state, where the server will look for it; a
    database already there (a server started again) is kept."""
    if not (state / MLFLOW_DB).exists():
        copy_sqlite(once("mlflow-server.db", make_mlflow_db), state / MLFLOW_DB)
