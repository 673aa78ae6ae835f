#!/usr/bin/env bash
# Build the UDx dependency directory with Vertica's own Python, on a Vertica node (or in the vertica-ce
# container): the project's udx and sql packages plus numpy, pyarrow, pydantic(-settings), scipy, and numba
# when it installs for that Python (optional: without it the kernels' plain-Python twins run, same results).
#   scripts/vertica/build_udx_deps.sh [/path/to/repo] [/opt/microstructure/udx]
# Then: microstructure vertica install-udx --library-path <dest>/vertica_udx.py --depends '<dest>/site-packages/*'
# Every node needs the same paths (shared storage, or run this on every node).
set -euo pipefail
REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
DEST=${2:-/opt/microstructure/udx}
VPY=${VERTICA_PYTHON:-/opt/vertica/sbin/python3}

"$VPY" --version
mkdir -p "$DEST"
"$VPY" -m venv "$DEST/venv"
"$DEST/venv/bin/pip" install --upgrade pip
"$DEST/venv/bin/pip" install --target "$DEST/site-packages" numpy pyarrow pydantic pydantic-settings scipy
"$DEST/venv/bin/pip" install --target "$DEST/site-packages" numba || echo "numba not installed: plain-Python kernels"
"$DEST/venv/bin/pip" install --target "$DEST/site-packages" --no-deps "$REPO"
cp "$REPO/udx/vertica_udx.py" "$DEST/vertica_udx.py"
echo "UDx files in $DEST"
