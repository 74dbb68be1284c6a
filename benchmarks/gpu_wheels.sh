#!/usr/bin/env bash
# Download the wheels that the GPU machine's image lacks (it has no network) into .whl/,
# for Python 3.12 / manylinux x86-64.  Run here, in the repository root, before a device
# run that names ".whl" in its carry list (see benchmarks/README.md).  The image already
# holds numpy, numba, numba-cuda, scipy, xarray, pandas, click, rich, PyYAML, psutil,
# typing-extensions and pytest; dcproj also imports pydantic (config) and netCDF4 (I/O).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  "pydantic==2.14.3" "pydantic-core==2.50.4" "annotated-types==0.8.0" "typing-inspection==0.4.5" \
  "netCDF4==1.7.5.1.post1" "cftime==1.6.6.1"
ls -la .whl
du -sh .whl
