#!/usr/bin/env bash
# Build the UDx directory with Vertica's own Python, on a Vertica node (or in the vertica-ce container):
#   <dest>/vertica_udx.py     the library file (CREATE LIBRARY ... AS '<dest>/vertica_udx.py')
#   <dest>/site-packages/     DEPENDS '<dest>/site-packages/*': the project's udx and sql packages (copied from
#                             the source tree), the packages of scripts/vertica/udx-requirements.txt (numpy,
#                             pyarrow, scipy, pydantic, pydantic-settings, tzdata for zoneinfo) and numba when
#                             it installs for that Python (optional: without it the kernels' plain-Python
#                             twins run, same results).
# The source tree is only read, never built in: it may be a read-only mount (docker-compose.yml's udx-build).
#   scripts/vertica/build_udx_deps.sh [/path/to/repo] [/opt/microstructure/udx]
# Then: microstructure vertica install-udx --library-path <dest>/vertica_udx.py --depends '<dest>/site-packages/*'
# Every node needs the same paths (shared storage, or run this on every node).
# Environment: VERTICA_PYTHON (/opt/vertica/sbin/python3), UDX_REQUIREMENTS (another requirements file),
# UDX_NUMBA (1; 0 skips numba), UDX_MIN_PYTHON (3.11: the oldest Python the udx and sql modules run on, e.g.
# datetime.UTC in udx/sessions.py; the app itself needs 3.11 too). pip's own PIP_* variables apply, e.g.
# PIP_INDEX_URL, or PIP_NO_INDEX=1 with PIP_FIND_LINKS=<wheel directory> on a node without internet.
set -euo pipefail
REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
DEST=${2:-/opt/microstructure/udx}
VPY=${VERTICA_PYTHON:-/opt/vertica/sbin/python3}
REQUIREMENTS=${UDX_REQUIREMENTS:-$REPO/scripts/vertica/udx-requirements.txt}
MIN_PYTHON=${UDX_MIN_PYTHON:-3.11}
SITE="$DEST/site-packages"

fail() { echo "build_udx_deps: $*" >&2; exit 1; }

[[ $MIN_PYTHON =~ ^3\.[0-9]+$ ]] || fail "UDX_MIN_PYTHON=$MIN_PYTHON is not a version like 3.11"
[ -x "$VPY" ] || fail "no Python at $VPY: set VERTICA_PYTHON to Vertica's Python (/opt/vertica/sbin/python3)"
VERSION=$("$VPY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
"$VPY" -c 'import sys; sys.exit(sys.version_info[:2] < tuple(int(p) for p in sys.argv[1].split(".")))' \
  "$MIN_PYTHON" || fail "Vertica's Python is $VERSION, the UDx needs $MIN_PYTHON or newer: use a Vertica release that bundles it (VERTICA_IMAGE, docs/scale-out.md)"
echo "Vertica's Python: $VERSION ($VPY)"

mkdir -p "$DEST"
pip_install() {  # pip of a virtual environment made with Vertica's Python: wheels for its version and ABI
  if [ ! -x "$DEST/venv/bin/python" ]; then
    "$VPY" -m venv "$DEST/venv" \
      || fail "$VPY cannot create a virtual environment with pip (is its venv/ensurepip module missing?)"
  fi
  "$DEST/venv/bin/python" -m pip --disable-pip-version-check --no-input install --upgrade --target "$SITE" "$@"
}
# one resolve for the requirements and numba, so numba's numpy bounds and the requirements' agree
if [ "${UDX_NUMBA:-1}" = 1 ]; then
  pip_install -r "$REQUIREMENTS" numba \
    || { echo "numba not installed: plain-Python kernels"; pip_install -r "$REQUIREMENTS"; }
elif grep -qvE '^[[:space:]]*(#|$)' "$REQUIREMENTS"; then
  pip_install -r "$REQUIREMENTS"
fi

# The project's packages the UDx imports, copied as they are: installing the project with pip would build it
# in the source tree (build/, *.egg-info), which fails on a read-only mount.
mkdir -p "$SITE"
rm -rf "$SITE/udx" "$SITE/sql"
cp -R "$REPO/udx" "$REPO/sql" "$SITE/"
chmod -R u+w "$SITE/udx" "$SITE/sql"   # a copy of a read-only tree is read-only; the next build replaces it
find "$SITE/udx" "$SITE/sql" -name __pycache__ -type d -prune -exec rm -rf {} +
cp "$REPO/udx/vertica_udx.py" "$DEST/vertica_udx.py"
chmod u+w "$DEST/vertica_udx.py"
echo "UDx files in $DEST"
