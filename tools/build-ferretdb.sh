#!/usr/bin/env bash
# Build the FerretDB test server (a MongoDB wire-protocol server on SQLite or PostgreSQL) from the Go
# module proxy, with both backends (the tests run on each: tools/ferretdb_server.py).
#
# `go install .../cmd/ferretdb@vX` builds a binary that panics at start-up because the module lacks
# build/version/version.txt (FerretDB issue #2982), so we copy the module tree, write that file and
# build from the copy. The result is cached: re-running is a no-op once the binary exists (and has the
# PostgreSQL backend: a binary cached by an older version of this script was built without it).
#
# Usage: tools/build-ferretdb.sh [OUTPUT_BINARY]   (default: .cache/ferretdb/ferretdb-$VERSION)
set -euo pipefail

VERSION="${FERRETDB_VERSION:-v1.24.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.cache/ferretdb/ferretdb-$VERSION}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac  # the build runs in another directory

if [ -x "$out" ] && "$out" --help 2>/dev/null | grep "'postgresql'" >/dev/null; then
    exit 0
fi
command -v go >/dev/null || { echo "build-ferretdb: Go is required to build the test server" >&2; exit 1; }

src="$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

cp -R "$src/." "$work/"
chmod -R u+w "$work"
echo "$VERSION" > "$work/build/version/version.txt"
mkdir -p "$(dirname "$out")"
echo "build-ferretdb: building FerretDB $VERSION (once; cached in $(dirname "$out"))" >&2
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./cmd/ferretdb)
mv "$out.tmp" "$out"
