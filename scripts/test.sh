#!/usr/bin/env bash
# The test command: unit tests of cl_course and every notebook under nbval (lax) in the ci profile.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_losses.py -k temperature`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
