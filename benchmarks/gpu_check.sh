#!/usr/bin/env bash
# The GPU check of issue 15, as ONE prepared script for a bare, offline GPU machine (about 8 minutes):
#
#   bash benchmarks/gpu_check.sh OUTDIR              # on the GPU machine (carry .whl and .gpu_data)
#   bash benchmarks/gpu_check.sh OUTDIR --rehearse   # here, on the CPU: the same steps, tiny (minutes)
#   GPU_CHECK_NOTEBOOKS="04 05" GPU_CHECK_BENCH=0 bash benchmarks/gpu_check.sh OUTDIR   # a part of it
#   GPU_CHECK_NOTEBOOKS="05 04" GPU_CHECK_SEEDS="0 1 2" GPU_CHECK_BENCH=0 bash benchmarks/gpu_check.sh OUTDIR
#       # each notebook over three seeds, in that order; (d) is then the mean ± std table over the seeds
#
# Before (here, once): bash benchmarks/fetch_gpu_wheels.sh; python benchmarks/make_cifar_subset.py
# Steps: (a) the device, the unit tests that need CUDA; (b) bench_gpu.py at full size -> OUTDIR/bench_gpu.md (+ .json); (c) every
# notebook through the course runner, one call each, wall time recorded, a failure does not stop the
# others; (d) the table of (c) -> OUTDIR/gpu_check.md, printed last. The run folder (JSON files,
# executed notebooks) is packed into OUTDIR/runs.tgz and removed, since only a few files come back;
# everything printed is also in OUTDIR/log.txt.
#
# Why the wheels: the machine's python3 (3.12, torch 2.11) lacks papermill, nbclient, nbformat,
# ipykernel and jupyter_client, and reaches no package index; they travel as wheels in .whl/.
# Why the subset: at most 64 MiB travel, the CIFAR-10 copy is 170 MB; .gpu_data/ holds 10,000 + 2,000.
set -uo pipefail  # no -e: one failing notebook must not stop the others

# --- knobs (change here) -------------------------------------------------------------------------
RUNNER="python3 -m cl_course.harness.run"   # the course runner; its "python3" becomes .venv/bin/python in rehearsal
# Short budgets on the 10,000-image subset (19 steps an epoch at batch 512, ~0.3 s on an H200): enough steps for the
# notebooks' learning checks to be meaningful (-P: only where a notebook has the parameter).
read -r -a NB_PARAMS <<< "${GPU_CHECK_PARAMS:--P epochs 15 -P compare_epochs 8 -P sweep_epochs 3}"
REHEARSE_NB_PARAMS=()               # the ci profile's own budgets, which its checks are calibrated for
ONLY=${GPU_CHECK_NOTEBOOKS:-}       # e.g. "01 02 03": these notebooks only (two calls fit the 10-minute limit)
SEEDS=${GPU_CHECK_SEEDS:-}          # e.g. "0 1 2": each notebook over these seeds (the runner's --seeds), into
                                    # runs/gpu-check-seed<k>/; notebooks run in the order GPU_CHECK_NOTEBOOKS names them
BENCH=${GPU_CHECK_BENCH:-1}         # 0: skip the speed table (a second call)
NB_TIMEOUT=${GPU_CHECK_NB_TIMEOUT:-240}  # seconds per notebook (all its seeds) before it is stopped (status TIMEOUT)
TOTAL_BUDGET=${GPU_CHECK_BUDGET:-540}                   # seconds for everything: the device tool stops a command at 600 s, and
                                    # then no table or runs.tgz would be written; a notebook that would
                                    # start too late is SKIPPED and each one's timeout is cut to fit
NB_COMPILE=0                        # CL_COURSE_COMPILE for the notebooks: 0 eager (the bench times
                                    # compile; compiling every model of every notebook costs minutes)
BENCH_ARGS=(--steps 30 --warmup 5 --data-root .gpu_data)
REHEARSE_BENCH_ARGS=(--tiny --no-compile)  # inductor on 2 CPU cores takes a minute for nothing
REHEARSE_BUDGET=(NB_TIMEOUT=600 TOTAL_BUDGET=3600)  # a busy 2-core CPU: ~1-3 min per ci notebook

usage() { echo "usage: bash benchmarks/gpu_check.sh OUTDIR [--rehearse]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
OUTDIR=$1
REHEARSE=0
if [[ $# -eq 2 ]]; then [[ $2 == --rehearse ]] && REHEARSE=1 || usage; fi
if [[ $REHEARSE == 1 ]]; then declare "${REHEARSE_BUDGET[@]}"; fi

cd "$(dirname "$0")/.." || exit 2
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || exit 2

PY=python3
if [[ $REHEARSE == 1 && -x .venv/bin/python ]]; then PY=$(pwd)/.venv/bin/python; fi
RUN=${RUNNER/#python3/$PY}
export PYTHONUNBUFFERED=1 PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's cl_course
export CL_COURSE_COMPILE=$NB_COMPILE CL_COURSE_NO_DOWNLOAD=1  # no MPLBACKEND: the kernels draw inline
export JUPYTER_PLATFORM_DIRS=1 JUPYTER_RUNTIME_DIR=/tmp/gpu_check_jupyter IPYTHONDIR=/tmp/gpu_check_ipython

section() { printf '\n===== %s  [%s, %d s in]\n' "$1" "$(date +%T)" "$SECONDS"; }

time_left() {
  # Seconds a step may take: at most $1, and what the budget leaves after a reserve of 20 s for the
  # table and the archive (0: too little to start).
  local left=$((TOTAL_BUDGET - SECONDS - 20))
  (( left < 30 )) && { echo 0; return; }
  echo $(( left < $1 ? left : $1 ))
}

install_wheels() {
  # papermill and its kernel stack from .whl/ unless they import already (the .venv here has them).
  if "$PY" -c "import papermill, nbclient, nbformat, ipykernel, jupyter_client" 2>/dev/null; then
    echo "papermill stack already importable: no wheels installed"; return 0
  fi
  compgen -G ".whl/*.whl" >/dev/null || { echo "ERROR: no .whl/*.whl: run benchmarks/fetch_gpu_wheels.sh here and carry .whl"; return 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PYTHONPATH \
    && "$PY" -c "import papermill, ipykernel; print('papermill', papermill.__version__, 'ipykernel', ipykernel.__version__)"
}

show_device() {
  nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
  "$PY" -c "import sys, torch; c = torch.cuda.is_available(); \
print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', c, \
'|', torch.cuda.get_device_name(0) if c else 'cpu'); sys.exit(0 if c else 3)"
}

run_notebooks() {
  # One runner call per notebook: its own wall time and exit code, and a failure stops only itself.
  local profile_args=(--profile gpu --data-root .gpu_data)
  [[ $REHEARSE == 1 ]] && profile_args=(--profile ci)
  : > "$OUTDIR/status.tsv"
  local params=("${NB_PARAMS[@]}")
  [[ $REHEARSE == 1 ]] && params=("${REHEARSE_NB_PARAMS[@]}")
  local order=(notebooks/0[1-7]_*.ipynb) seed_args=()
  if [[ -n $ONLY ]]; then order=() && for n in $ONLY; do order+=(notebooks/"$n"_*.ipynb); done; fi  # in ONLY's order
  [[ -n $SEEDS ]] && read -r -a seed_args <<< "--seeds $SEEDS"
  for nb in "${order[@]}"; do
    local stem t0 code limit
    stem=$(basename "$nb" .ipynb)
    section "notebook $stem"
    limit=$(time_left "$NB_TIMEOUT")
    if (( limit == 0 )); then
      echo "SKIPPED $stem: the ${TOTAL_BUDGET} s budget is spent"
      printf '%s\t%s\t%s\n' "$stem" 199 0 >> "$OUTDIR/status.tsv"
      continue
    fi
    t0=$(date +%s.%N)
    timeout "$limit" $RUN "${stem:0:2}" "${profile_args[@]}" --name gpu-check --runs-dir "$OUTDIR/runs" ${params[@]+"${params[@]}"} \
      ${seed_args[@]+"${seed_args[@]}"}
    code=$?
    awk -v n="$stem" -v c="$code" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%s\t%s\t%.1f\n", n, c, b - a}' \
      >> "$OUTDIR/status.tsv"
  done
}

pack_runs() {
  # JSON files, executed notebooks and summaries in one archive (not the cached encoders: a ResNet-18
  # is 45 MB, over what comes back); the unpacked folder goes.
  tar -czf "$OUTDIR/runs.tgz" --exclude='*.pt' -C "$OUTDIR" runs status.tsv && rm -rf "$OUTDIR/runs" "$OUTDIR/status.tsv"
  ls -l "$OUTDIR"
}

main() {
  local rc=0
  section "(a) device"
  if ! show_device; then
    [[ $REHEARSE == 1 ]] || { echo "ERROR: no CUDA device: this is the GPU check (use --rehearse on a CPU)"; return 3; }
  fi
  install_wheels || return 4
  section "(a2) the unit tests that need CUDA (skipped on a CPU)"
  # -o addopts=: the project's pytest options name nbval, which the GPU machine lacks.
  timeout "$(time_left 90)" "$PY" -m pytest -o addopts= -p no:cacheprovider -q -k cuda \
    tests/test_train.py tests/test_evaluate.py tests/test_negatives.py || { rc=7; echo "CUDA unit tests FAILED"; }
  section "(b) bench_gpu.py"
  local bench_args=("${BENCH_ARGS[@]}")
  [[ $REHEARSE == 1 ]] && bench_args=("${REHEARSE_BENCH_ARGS[@]}")
  if [[ $BENCH == 1 ]]; then
    timeout "$(time_left 240)" "$PY" benchmarks/bench_gpu.py "${bench_args[@]}" --out "$OUTDIR/bench_gpu.md" || { rc=5; echo "bench FAILED"; }
  else
    echo "skipped (GPU_CHECK_BENCH=0)"
  fi
  section "(c) notebooks"
  run_notebooks
  section "(d) result"
  [[ -s $OUTDIR/bench_gpu.md ]] && cat "$OUTDIR/bench_gpu.md" && echo
  if [[ -n $SEEDS ]]; then  # mean ± std over the seeds of every variant, from the JSON each run wrote
    "$PY" -m cl_course.harness.results "$OUTDIR"/runs/gpu-check-seed* | tee "$OUTDIR/gpu_check.md" || rc=6
  else
    "$PY" benchmarks/gpu_check_table.py "$OUTDIR/status.tsv" "$OUTDIR/runs/gpu-check" --out "$OUTDIR/gpu_check.md" || rc=6
  fi
  if awk -F'\t' '$2 != 0 {bad = 1} END {exit !bad}' "$OUTDIR/status.tsv" && [[ $rc == 0 ]]; then rc=1; fi
  pack_runs
  return "$rc"
}

main 2>&1 | tee "$OUTDIR/log.txt"
exit "${PIPESTATUS[0]}"
