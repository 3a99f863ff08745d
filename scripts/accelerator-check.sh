#!/usr/bin/env bash
# The accelerator check of issue #19, in at most 8 minutes on whatever accelerator JAX sees:
#   1. the throughput suite's core grid (selective scan and Mamba block, seed 0)
#        -> results/throughput-<backend>/
#   2. the trainers' speed and time-to-target grid, with the T = 8192 cell the 10x checks read
#        -> results/trainers-<backend>/
# Each part has its own time limit; a part that runs out keeps the cells it recorded (records are
# atomic) and the report is still written. Usage, from the repository root:
#   scripts/accelerator-check.sh            # refuses to run on a CPU-only JAX
#   ALLOW_CPU=1 QUICK=1 scripts/accelerator-check.sh   # the same commands, shrunk, on a CPU
#     (into /tmp/accelerator-check unless OUT_ROOT is set; committed folders are never replaced)
# Packages the machine lacks (ott-jax, signax, flowjax, blackjax, dynamax on a bare CUDA image)
# can travel as wheels in .whl/: they are installed into /tmp/ssmbench-site first.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/ssmbench-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/ssmbench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
backend=$("$PY" -c 'import jax; print(jax.default_backend())') || exit 1
if [ "$backend" = cpu ] && [ -z "${ALLOW_CPU:-}" ]; then
  echo "accelerator-check: JAX sees no accelerator (backend cpu); set ALLOW_CPU=1 to run anyway" >&2
  exit 3
fi
# on a CPU (ALLOW_CPU) the default is a scratch folder: results/throughput-cpu is a committed run
if [ "$backend" = cpu ]; then root=${OUT_ROOT:-/tmp/accelerator-check}; else root=${OUT_ROOT:-results}; fi
quick=${QUICK:+--quick}
"$PY" -c 'import jax; print("devices:", jax.devices())'
run() {  # run <seconds> <suite> <experiments> <out>
  local t=$1 suite=$2 only=$3 out=$4
  if [ -n "$(git ls-files "$out" 2>/dev/null | head -1)" ]; then
    echo "accelerator-check: $out holds committed files; refusing to overwrite it" >&2
    return 1
  fi
  rm -rf "$out"
  timeout -s INT "$t" "$PY" -m ssmbench run "$suite" --only "$only" --seeds 0 --out "$out" \
    --no-progress $quick
  echo "accelerator-check: $suite ($only) exited $? after at most ${t}s" >&2
  "$PY" -m ssmbench report "$out" >/dev/null || true
}
run "${THROUGHPUT_S:-180}" suites/throughput.toml selective-scan,mamba "$root/throughput-$backend"
run "${TRAINERS_S:-270}" suites/trainers.toml speed,speed-long "$root/trainers-$backend"
find "$root/throughput-$backend" "$root/trainers-$backend" -name '.lock*' -delete 2>/dev/null
echo "accelerator-check: done; results in $root/throughput-$backend and $root/trainers-$backend"
