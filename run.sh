#!/usr/bin/env bash
# Builds the web page and serves it at http://127.0.0.1:${PORT:-8080}: drop a song, see its
# emotion, computed in the browser (WebGPU when available, else the CPU). The page reads
# its models from models/ (models/index.json, written by `trainer index models`).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
setup_web
command -v node >/dev/null || apt_install nodejs
bash web/build.sh
PORT="${PORT:-8080}"
mkdir -p models
if [ ! -f models/index.json ]; then
    echo "note: models/ holds no index.json yet: the page will say that no models are shipped." >&2
fi
echo "Serving the page at http://127.0.0.1:$PORT/  (Ctrl-C stops)"
exec node web/serve.mjs --dist dist --models models --host 127.0.0.1 --port "$PORT"
