#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install requirements.txt into it.
# Idempotent: a second call with unchanged requirements returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
stamp=.venv/.cl_course-requirements
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing requirements.txt into .venv (a few minutes the first time)"
start=$(date +%s)
set +e
.venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt >.venv/pip.log 2>&1
rc=$?
set -e
# This machine's pip configuration names local index folders that may not exist; pip warns once per
# package about them. Show everything else.
grep -v "is ignored: it is neither a file nor a directory" .venv/pip.log | tail -n 30 || true
if [ $rc -ne 0 ]; then
  echo "setup: pip install failed (exit $rc); full log in .venv/pip.log" >&2
  exit $rc
fi
.venv/bin/python -c "import torch, torchvision, papermill, nbval, cl_course; print('setup: torch', torch.__version__, '| torchvision', torchvision.__version__)"
echo "$want" >"$stamp"
echo "setup: done in $(( $(date +%s) - start )) s"
