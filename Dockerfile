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
# cu128 = CUDA 12.8 wheels (driver >= 570); cu130 for CUDA 13; cpu for a CPU-only image.
ARG TORCH_VARIANT=cu128
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
 && python -c "import app.api, ui.client"

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
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MMRAG_PORT', '8000')}/health\", timeout=4)"]
ENTRYPOINT ["tini", "--"]
CMD ["mmrag", "serve"]
