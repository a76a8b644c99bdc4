#!/usr/bin/env bash
# Installs everything mmrag needs on a fresh Debian/Ubuntu machine: system packages
# (tesseract with the corpus languages, ffmpeg, chromium for the browser test) and a
# virtualenv with the project and its dev tools. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

need_apt=()
command -v tesseract >/dev/null || need_apt+=(tesseract-ocr tesseract-ocr-eng)
for lang in deu fra spa rus kor; do
  [ -e "/usr/share/tesseract-ocr/5/tessdata/$lang.traineddata" ] || need_apt+=("tesseract-ocr-$lang")
done
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
# espeak-ng makes a spoken test clip for the real ASR test.
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
if [ "${MMRAG_SKIP_BROWSER:-0}" != "1" ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.mmrag-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing Python packages into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c constraints.txt torch==2.13.0
  "$VENV/bin/pip" install -q -c constraints.txt -e ".[dev,gpu]"
  touch "$stamp"
fi
