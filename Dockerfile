# syntax=docker/dockerfile:1.7
# mmrag image: the API (`mmrag serve`) and the UI (`mmrag ui`) share it.
#
#   docker build -t mmrag .                              # CUDA torch (GPU workstation)
#   docker build -t mmrag:cpu --build-arg TORCH_VARIANT=cpu .
#
# Stage 1 has the compilers and builds every wheel into a virtualenv; stage 2 is python-slim
# with only the runtime tools (tesseract, ffmpeg) and that virtualenv, run as a non-root user.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ARG TORCH_VERSION=2.13.0
# torch 2.12+ is published for CUDA 12.6 and 13.0 (and 13.2), no longer 12.8:
# cu130 = CUDA 13.0 wheels (driver >= 580; Turing and newer, incl. Blackwell);
# cu126 = CUDA 12.6 wheels (driver >= 525 with CUDA minor-version compatibility; also
# Volta/Pascal); cpu for a CPU-only image. See docs/deploy.md.
ARG TORCH_VARIANT=cu130
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential git \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --upgrade pip wheel
# torch first, from PyTorch's index for the chosen CUDA variant (PyPI's torch is CPU-only
# or a different CUDA); constraints.txt then keeps every other package off a newer torch.
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY generation ./generation
COPY ui ./ui
RUN pip install -c constraints.txt ".[gpu]" \
 && python -c "import app.api.application, ui.client"

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG UID=1000
# Runtime tools only: OCR with the corpus languages, ffmpeg for audio/video, libgomp for
# torch/ctranslate2 threads. No compilers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra \
      tesseract-ocr-spa tesseract-ocr-rus tesseract-ocr-kor \
      ffmpeg libgomp1 tini \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid "${UID}" mmrag \
 && mkdir -p /data /models \
 && chown mmrag:mmrag /data /models
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MMRAG_DATA_DIR=/data \
    MMRAG_HOST=0.0.0.0 \
    HF_HOME=/models/hf
USER mmrag
WORKDIR /home/mmrag
VOLUME ["/data", "/models"]
EXPOSE 8000 8501
# /health answers as soon as the server listens (models load in the background; /ready
# says when they are in), so a short start period is enough even on a first start.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MMRAG_PORT', '8000')}/health\", timeout=4)"]
ENTRYPOINT ["tini", "--"]
CMD ["mmrag", "serve"]
