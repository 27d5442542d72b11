#!/usr/bin/env bash
# Build the MongoDB-protocol test server: FerretDB v2.5.0 in front of a private PostgreSQL 15 tree that
# holds the DocumentDB extension (DocumentDB v0.106.0-ferretdb-2.5.0, the version this FerretDB expects).
#
# The output directory (default .cache/ferretdb-v2.5.0) gets:
#   bin/ferretdb     the FerretDB binary
#   postgresql/      a copy of Debian's PostgreSQL 15 (bin, lib, share) with DocumentDB, pgvector and
#                    pg_cron 1.6 installed into it. PostgreSQL finds its libraries and extensions relative
#                    to its binary, so the copy runs from anywhere, and nothing of the system's PostgreSQL
#                    is changed (Debian's pg_cron 1.4 is too old for DocumentDB; ours replaces it only here).
# The build is cached: running again is a no-op once the output exists with this script's versions.
#
# Sources. DocumentDB, libbson 1.28 (DocumentDB needs it; Debian has 1.23), pgvector and pg_cron are source
# archives taken from the directory in BRAINSTORM_VENDOR_DIR when it is set (the Makefile sets it to
# ../shared/vendor when that exists), else downloaded from the upstream tags below. Either way each
# archive's sha256 must be the one below, or nothing is built. FerretDB comes from the Go module proxy
# (checked by Go against its checksum database).
#
# Needs (Debian 12; `make test-servers` installs them): Go, cmake, pkg-config, a C compiler, and the
# packages postgresql-15 postgresql-server-dev-15 postgresql-15-rum postgresql-15-postgis-3 libpcre2-dev
# libintelrdfpmath-dev libkrb5-dev. About two minutes on two cores; root is not needed.
#
# Usage: tools/build-ferretdb.sh [OUTPUT_DIRECTORY]
set -euo pipefail

FERRETDB_VERSION=v2.5.0
PG_VERSION=15
# archive, sha256, upstream URL (the vendor archives are `git archive` tarballs of these tags; the
# mongo-c-driver one leaves out src/libbson/tests and src/libmongoc/tests, which the build does not use)
SOURCES=(
    "documentdb-0.106.0-ferretdb-2.5.0.tar.gz c06c5b2287ac9e439c9fbcfc1095c605d81975e1e6792aa83eb4c9f7008b7eff https://github.com/FerretDB/documentdb/archive/refs/tags/v0.106.0-ferretdb-2.5.0.tar.gz"
    "mongo-c-driver-1.28.0.tar.gz ecfd30e2689500ea4aeccf49f2572c55570dac57c84eb1ad1c0502cb8af1c3ce https://github.com/mongodb/mongo-c-driver/archive/refs/tags/1.28.0.tar.gz"
    "pgvector-0.8.0.tar.gz f735d37c1f8a32a0c46f29db63860bdc1ed06a423d4280767afbd38f1fe58778 https://github.com/pgvector/pgvector/archive/refs/tags/v0.8.0.tar.gz"
    "pg_cron-1.6.3.tar.gz 105b669241ea200f0e9a5ffbc2c4e8c33b0dfaba2b13e06cdb4621382b7995d5 https://github.com/citusdata/pg_cron/archive/refs/tags/v1.6.3.tar.gz"
)
STAMP="ferretdb $FERRETDB_VERSION, postgresql $PG_VERSION, $(printf '%s\n' "${SOURCES[@]}" | cut -d' ' -f2 | tr '\n' ' ')"

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.cache/ferretdb-$FERRETDB_VERSION}"
out="${out%/}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac  # the build runs in other directories
say() { echo "build-ferretdb: $*" >&2; }
fail() { say "$*"; exit 1; }

if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$STAMP" ]; then
    exit 0
fi

pg_bin=/usr/lib/postgresql/$PG_VERSION/bin
pg_config=$pg_bin/pg_config
for program in go cmake pkg-config make cc tar sha256sum; do
    command -v "$program" >/dev/null || fail "$program is required (make test-servers installs what is missing)"
done
[ -x "$pg_config" ] || fail "$pg_config is missing: install postgresql-server-dev-$PG_VERSION (make test-servers)"
for extension in rum postgis; do
    [ -f "/usr/share/postgresql/$PG_VERSION/extension/$extension.control" ] \
        || fail "PostgreSQL's $extension extension is missing: install postgresql-$PG_VERSION-$extension* (make test-servers)"
done

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/archives" "$work/src" "$work/prefix"
started=$(date +%s)

# Every archive, checked before anything is unpacked.
for entry in "${SOURCES[@]}"; do
    read -r archive digest url <<<"$entry"
    if [ -n "${BRAINSTORM_VENDOR_DIR:-}" ]; then
        [ -f "$BRAINSTORM_VENDOR_DIR/$archive" ] || fail "$archive is not in BRAINSTORM_VENDOR_DIR=$BRAINSTORM_VENDOR_DIR"
        cp "$BRAINSTORM_VENDOR_DIR/$archive" "$work/archives/$archive"
    else
        say "downloading $url"
        curl --fail --location --silent --show-error --output "$work/archives/$archive" "$url" \
            || fail "cannot download $url (set BRAINSTORM_VENDOR_DIR to a directory holding $archive)"
    fi
    actual="$(sha256sum "$work/archives/$archive" | cut -d' ' -f1)"
    [ "$actual" = "$digest" ] || fail "$archive has sha256 $actual, not $digest: refusing to build from it"
done
for entry in "${SOURCES[@]}"; do
    read -r archive _ <<<"$entry"
    tar -xzf "$work/archives/$archive" -C "$work/src"
done
src="$work/src"

# The PostgreSQL tree the extensions are installed into: Debian's, copied with the paths it has under /.
stage="$out.partial"
rm -rf "$stage"
tree="$stage/postgresql"
mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql" "$stage/bin"
cp -a "/usr/lib/postgresql/$PG_VERSION" "$tree/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$PG_VERSION" "$tree/usr/share/postgresql/"
pgxs=(PG_CONFIG="$pg_config" with_llvm=no)
install_into_tree=(PG_CONFIG="$pg_config" with_llvm=no DESTDIR="$tree")

say "libbson 1.28 (static, for DocumentDB only)"
cmake -S "$src/mongo-c-driver-1.28.0" -B "$work/bson-build" -DENABLE_MONGOC=OFF -DENABLE_BSON=ON \
    -DENABLE_STATIC=ON -DENABLE_TESTS=OFF -DENABLE_EXAMPLES=OFF -DENABLE_MAN_PAGES=OFF -DENABLE_HTML_DOCS=OFF \
    -DENABLE_ICU=OFF -DCMAKE_C_FLAGS=-fPIC -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/prefix" \
    >"$work/bson.log" 2>&1 || { cat "$work/bson.log" >&2; fail "libbson: cmake failed"; }
make -C "$work/bson-build" -j2 install >>"$work/bson.log" 2>&1 || { tail -50 "$work/bson.log" >&2; fail "libbson: build failed"; }

# DocumentDB asks pkg-config for the Intel decimal library, which Debian's libintelrdfpmath-dev ships without a .pc file.
pkgconfig="$work/prefix/lib/pkgconfig"
mkdir -p "$pkgconfig"
cat >"$pkgconfig/intelmathlib.pc" <<EOF
Name: intelmathlib
Description: Intel Decimal Floating-Point Math Library (Debian's libintelrdfpmath-dev)
Version: 2.0
Cflags: -I/usr/include
Libs: -L/usr/lib/x86_64-linux-gnu -l:libbidgcc000.a
EOF
export PKG_CONFIG_PATH="$pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

build_extension() {  # DIRECTORY LABEL [MAKE_VARIABLE...]: build a PGXS extension, install it into the tree
    local directory=$1 label=$2
    shift 2
    say "$label"
    { make -C "$directory" -j2 "${pgxs[@]}" "$@" && make -C "$directory" install "${install_into_tree[@]}" "$@"; } \
        >"$work/$label.log" 2>&1 || { tail -50 "$work/$label.log" >&2; fail "$label: build failed"; }
}
build_extension "$src/pgvector-0.8.0" pgvector OPTFLAGS=
build_extension "$src/pg_cron-1.6.3" pg_cron  # 1.5 or later: DocumentDB schedules jobs every few seconds
# pg_documentdb.so loads pg_documentdb_core.so through its run path, which DocumentDB sets to Debian's libdir:
# $ORIGIN (the directory of the library itself) finds it in the tree instead, wherever the tree is.
sed -i 's|-Wl,-rpath=$(shell $(PG_CONFIG) --pkglibdir)|-Wl,-rpath='"'"'$$ORIGIN'"'"'|' "$src/documentdb-0.106.0-ferretdb-2.5.0/Makefile.cflags"
grep -q "rpath='\$\$ORIGIN'" "$src/documentdb-0.106.0-ferretdb-2.5.0/Makefile.cflags" || fail "DocumentDB: its run path was not found to change"
build_extension "$src/documentdb-0.106.0-ferretdb-2.5.0/pg_documentdb_core" documentdb_core
build_extension "$src/documentdb-0.106.0-ferretdb-2.5.0/pg_documentdb" documentdb

say "FerretDB $FERRETDB_VERSION"
module="$(GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB/v2@$FERRETDB_VERSION" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
cp -R "$module/." "$work/ferretdb"
chmod -R u+w "$work/ferretdb"
echo "$FERRETDB_VERSION" >"$work/ferretdb/build/version/version.txt"  # what --version and buildInfo report
# v2.5.0 defines setGOMAXPROCS only for Go before 1.25 (gomaxprocs.go is `//go:build !go1.25`); Go 1.25 and
# later set GOMAXPROCS from the CPU quota themselves, so the newer side has nothing to do.
cat >"$work/ferretdb/cmd/ferretdb/gomaxprocs_go125.go" <<'EOF'
//go:build go1.25

package main

import "log/slog"

func setGOMAXPROCS(*slog.Logger) {}
EOF
(cd "$work/ferretdb" && CGO_ENABLED=0 go build -trimpath -o "$stage/bin/ferretdb" ./cmd/ferretdb) >"$work/ferretdb.log" 2>&1 \
    || { tail -50 "$work/ferretdb.log" >&2; fail "FerretDB: build failed"; }

echo "$STAMP" >"$stage/.stamp"
rm -rf "$out"
mv "$stage" "$out"
say "built in $(( $(date +%s) - started ))s: $out"
