#!/usr/bin/env bash
# Download, HERE (a machine with PyPI), the wheels that the bare GPU machine lacks to run the course
# runner: papermill and its kernel stack. The GPU machine has no network and no papermill, nbclient,
# nbformat, ipykernel or jupyter_client; benchmarks/gpu_check.sh installs these wheels there with
#   python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
# Why --no-deps + an explicit list: pip on this machine cannot resolve for another Python (3.12
# there) and platform; the list is the closure of papermill's Requires-Dist minus what the GPU
# image already holds (attrs, click, packaging, psutil, pygments, python-dateutil, pyyaml, requests,
# tqdm, typing-extensions, six: /work/.library/device/KINDS.md). Versions are the ones this repo's
# .venv was tested with. One version of each: two of the same package stop the install there.
#
#   bash benchmarks/fetch_gpu_wheels.sh      # -> .whl/ (git-ignored), prints its size
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(
  papermill==2.7.0 nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0 jupyter_client==8.10.0
  jupyter_core==5.9.1 traitlets==5.16.1 pyzmq==27.3.0 tornado==6.6.1 comm==0.2.3 debugpy==1.8.22
  ipython==9.18.1 ipython_pygments_lexers==1.1.1 matplotlib-inline==0.2.2 nest-asyncio2==1.7.4
  jedi==0.20.1 parso==0.8.7 prompt_toolkit==3.0.53 wcwidth==0.9.4 pexpect==4.9.0 ptyprocess==0.7.0
  stack-data==0.6.3 executing==2.3.0 asttokens==3.0.2 pure_eval==0.2.4
  fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
  rpds-py==2026.9.1 entrypoints==0.4.2 tenacity==9.2.1 platformdirs==4.14.8
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$p")
done
mkdir -p .whl
for spec in "${WHEELS[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d .whl "$spec"
done
echo "wheels in .whl/: $(ls .whl/*.whl | wc -l) files, $(du -sm .whl | cut -f1) MB"
