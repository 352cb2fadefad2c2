#!/usr/bin/env bash
# Prepare, on this machine, what a lent GPU machine needs for benchmarks/gpu_session.py.
#
# The device gets a copy of the repository and nothing beside it, and has no package
# index: the wheels it lacks go to .whl/ and the CIFAR-10 archive to .data/, both
# ignored by git and named in the device call's `carry` (see the device tool's README).
# skorch is not installed there; scikit-learn is carried too, pinned to the version the
# package is tested with, since the image's version is not documented.
#
# Usage, from the repository root:  bash benchmarks/prepare_device.sh [DATA_ARCHIVE]
set -euo pipefail
archive=${1:-../shared/data/cifar10-jpeg.tar.gz}
cd "$(git rev-parse --show-toplevel)"
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" && touch "$exclude"
for folder in /.whl/ /.data/; do
    grep -qxF "$folder" "$exclude" || echo "$folder" >> "$exclude"
done
rm -rf .whl && mkdir -p .whl .data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl skorch==1.4.0 scikit-learn==1.9.1
cp "$archive" .data/
du -sh .whl .data
echo "carry: [\".whl\", \".data\"]; command: see the docstring of benchmarks/gpu_session.py"
