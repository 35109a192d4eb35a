#!/usr/bin/env bash
# The course command: every notebook through the papermill runner into runs/<name>/, then the
# summary table. Arguments go to the runner, e.g.
#   bash scripts/course.sh --profile cpu --data-root ../shared/data --name cpu-seed0 -p seed 0
#   bash scripts/course.sh 01 --profile ci
# Default profile: $CL_COURSE_PROFILE, else auto (gpu with CUDA, else cpu; ci without data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m cl_course.harness.run "$@"
