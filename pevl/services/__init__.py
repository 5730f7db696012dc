"""The local servers: Prefect and MLflow on 127.0.0.1, their databases and their door (CSRF, CORS, auth)."""
