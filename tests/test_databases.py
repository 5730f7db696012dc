"""Database URLs of `pevl up` (pevl.services.databases): drivers, redaction, and where the URL travels."""

import pytest

from pevl.cli import main
from pevl.services import databases
from pevl.services import servers as services

URL = "postgresql://pevl:s3cret-pw@db.internal:5433/prefect"


@pytest.mark.parametrize("given", [URL, URL.replace("postgresql", "postgres", 1),
                                   URL.replace("postgresql", "postgresql+asyncpg", 1),
                                   URL.replace("postgresql", "postgresql+psycopg2", 1)])
def test_each_server_gets_its_driver(given):
    assert databases.prefect_url(given) == "postgresql+asyncpg://pevl:s3cret-pw@db.internal:5433/prefect"
    assert databases.mlflow_url(given) == "postgresql+psycopg2://pevl:s3cret-pw@db.internal:5433/prefect"


def test_redact_hides_the_password_only():
    assert databases.redact(URL) == "postgresql://pevl:***@db.internal:5433/prefect"
    assert databases.redact("postgresql://pevl@db/x") == "postgresql://pevl@db/x"


def test_a_url_that_is_not_postgres_is_refused_without_its_password():
    with pytest.raises(ValueError) as e:
        databases.prefect_url("mysql://pevl:s3cret-pw@db/x")
    assert "s3cret-pw" not in str(e.value) and "postgresql://" in str(e.value)


def test_prefect_gets_the_url_in_its_environment_not_on_its_command_line(tmp_path):
    service = services.prefect_service(tmp_path, 4211, ui=False, db=URL)
    assert service.env["PREFECT_API_DATABASE_CONNECTION_URL"] == databases.prefect_url(URL)
    assert "s3cret-pw" not in " ".join(service.command) and "s3cret-pw" not in service.database
    assert service.database == "postgresql+asyncpg://pevl:***@db.internal:5433/prefect"
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in services.prefect_service(tmp_path, 4211).env


def test_mlflow_gets_the_url_in_its_environment_not_on_its_command_line(tmp_path):
    service = services.mlflow_service(tmp_path, 5011, db=URL)
    assert service.env["MLFLOW_BACKEND_STORE_URI"] == databases.mlflow_url(URL)
    assert "--backend-store-uri" not in service.command and "s3cret-pw" not in " ".join(service.command)
    artifacts = service.command[service.command.index("--artifacts-destination") + 1]
    assert artifacts == str(tmp_path / "mlflow" / "artifacts")
    sqlite = services.mlflow_service(tmp_path, 5011)
    assert "MLFLOW_BACKEND_STORE_URI" not in sqlite.env
    assert f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}" in sqlite.command


def test_up_refuses_a_bad_database_url_before_starting_anything(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(databases.MLFLOW_DB_ENV, "sqlite:///pevl:s3cret-pw@x")
    assert main(["up", "--state-dir", str(tmp_path), "--prefect-port", str(services.free_port())]) == 1
    assert "not a PostgreSQL URL" in caplog.text and "s3cret-pw" not in caplog.text
    assert services.read_record(tmp_path, "prefect") is None and services.read_record(tmp_path, "mlflow") is None
