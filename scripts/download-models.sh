#!/usr/bin/env bash
# Download the models of the compose stack once, into the volumes the services mount, before
# the first `docker compose up` (so no health window has to cover a multi-GB download).
#
#   cp .env.example .env && edit .env      # models, MMRAG_VISUAL_EMBEDDER, MMRAG_RERANKER
#   bash scripts/download-models.sh        # then: docker compose up -d
#
# Each model goes into the cache of the container that loads it, downloaded by that
# container's own image and user: the generator (and the embedder when vllm-embed serves it)
# into `hf-cache` (vLLM's /root/.cache/huggingface), the in-process embedder and reranker into
# `mmrag-models` (the api's HF_HOME=/models/hf). Models given as local paths are skipped.
# Afterwards HF_HUB_OFFLINE=1 in .env keeps the stack off the network.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_FILE=${MMRAG_ENV_FILE:-.env}
if [[ ! -f $ENV_FILE ]]; then
  echo "$ENV_FILE not found: cp .env.example .env and set MMRAG_API_KEY and the models" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a

generator=${MMRAG_GENERATOR_MODEL:-Qwen/Qwen3-VL-4B-Instruct}
embedder=${MMRAG_EMBEDDER_MODEL:-Qwen/Qwen3-VL-Embedding-2B}
reranker=${MMRAG_RERANKER_MODEL:-Qwen/Qwen3-VL-Reranker-2B}
compose=(docker compose --env-file "$ENV_FILE")

# hf download <model> inside <service>'s image, with its volumes, without starting anything else.
download() {
  local service=$1 model=$2
  shift 2
  if [[ $model == /* || $model == ./* ]]; then
    echo "skipping $model: a local path" >&2
    return
  fi
  echo "downloading $model into the cache of $service" >&2
  "${compose[@]}" "$@" run --rm --no-deps -e HF_HUB_OFFLINE=0 --entrypoint hf \
    "$service" download "$model"
}

download vllm "$generator"
if [[ ${MMRAG_VISUAL_EMBEDDER:-vlm} == vllm ]]; then
  download vllm-embed "$embedder" --profile vllm-embed
else
  download api "$embedder"
fi
if [[ ${MMRAG_RERANKER:-vlm} == vlm ]]; then
  download api "$reranker"
fi
echo "models cached; start the stack with: docker compose up -d" >&2
