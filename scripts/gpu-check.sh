#!/usr/bin/env bash
# The GPU check, in one go, for a CUDA machine (see docs/BENCHMARKS.md): installs onnxruntime-node's CUDA
# provider, runs the GPU test tier and `npm run bench -- --gpu`, and writes logs and results under $OUT
# (default ./gpu-out). Never part of CI. Usage: OUT=/some/dir bash scripts/gpu-check.sh [--quick]
# Needs: Node >= 20, the npm registry (or node_modules already installed), the CUDA 12 and cuDNN 9
# libraries, and network access for onnxruntime-node's CUDA provider download (or those libraries placed
# beside node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 beforehand).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
QUICK="${1:-}"
{
  date -u
  nvidia-smi || echo "nvidia-smi failed"
} > "$OUT/machine.txt" 2>&1
npm install --no-audit --no-fund > "$OUT/npm-install.log" 2>&1 || { echo "npm install failed (see npm-install.log)"; exit 1; }
# The CUDA execution provider libraries (downloaded by onnxruntime-node's own install script).
ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js > "$OUT/cuda-provider.log" 2>&1 \
  || echo "the CUDA provider install failed (see cuda-provider.log); the checks below will say so"
ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ >> "$OUT/cuda-provider.log" 2>&1
npm run build:models > "$OUT/build-models.log" 2>&1
NEMOTRON_GPU_TESTS=1 node scripts/run-tests.mjs test/gpu.test.ts > "$OUT/gpu-tests.log" 2>&1
echo "gpu tests exit $?" | tee -a "$OUT/summary.txt"
npm run bench -- --gpu $QUICK > "$OUT/bench-gpu.log" 2>&1
echo "bench exit $?" | tee -a "$OUT/summary.txt"
cp bench/latest/gpu*.json docs/BENCHMARKS.md "$OUT/" 2>/dev/null
ls bench/results | tail -3 | while read -r f; do cp "bench/results/$f" "$OUT/"; done
tail -5 "$OUT/gpu-tests.log" >> "$OUT/summary.txt"
