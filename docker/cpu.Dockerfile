# CPU image: the Prefect and MLflow servers, the process serving the deployments, CPU pose and
# training workers. Same pins as the Makefile: pyproject.toml's, then rtmlib alone.
# Build from the repository root:  docker build -f docker/cpu.Dockerfile -t pevl-cpu:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends git libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY pose_extraction ./pose_extraction
COPY pevl ./pevl
COPY flows ./flows
COPY configs ./configs

# pyproject.toml pins everything else; rtmlib's metadata pulls two more OpenCV wheels that break cv2.
RUN pip install . \
 && pip install --no-deps rtmlib==0.0.16
# Server extras: MLflow's Postgres driver and its S3 (MinIO) artifact client.
RUN pip install psycopg2-binary==2.9.13 boto3==1.44.8

RUN useradd --create-home --uid 1000 pevl && mkdir -p /app/work && chown -R pevl /app
USER pevl
CMD ["pevl", "--help"]
