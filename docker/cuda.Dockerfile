# CUDA image: training (torchrun + DDP/NCCL) and pose workers (onnxruntime-gpu).
# Same pins as the Makefile; the one difference is onnxruntime -> onnxruntime-gpu, whose newest
# release on PyPI is 1.31.1 (the CPU wheel is at 1.32.0). torch's PyPI wheels bring their own
# CUDA libraries; the cuDNN base image is for onnxruntime-gpu.
# Build from the repository root:  docker build -f docker/cuda.Dockerfile -t pevl-cuda:0.1.0 .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ARG ONNXRUNTIME_GPU=1.31.1
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 \
    PATH=/opt/venv/bin:$PATH

# Python 3.11 as in pyproject.toml (Ubuntu 22.04 ships 3.10).
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common git libglib2.0-0 \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY pose_extraction ./pose_extraction
COPY pevl ./pevl
COPY flows ./flows
COPY configs ./configs

# pyproject.toml pins everything else; rtmlib alone (see cpu.Dockerfile). onnxruntime and
# onnxruntime-gpu share one package folder: remove the CPU build before adding the GPU one.
RUN pip install . \
 && pip install --no-deps rtmlib==0.0.16 \
 && pip uninstall -y onnxruntime \
 && pip install --no-deps onnxruntime-gpu==${ONNXRUNTIME_GPU}

RUN useradd --create-home --uid 1000 pevl && mkdir -p /app/work && chown -R pevl /app
USER pevl
CMD ["pevl", "--help"]
