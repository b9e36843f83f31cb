#!/usr/bin/env bash
# Builds bitcoind and bitcoin-cli (Bitcoin Core, no wallet) for the tests and the devnet.
#
# Source: the Bitcoin Core tree bundled in the crates.io crate libbitcoinkernel-sys, pinned
# below by version and by the SHA-256 of the .crate file (the checksum crates.io publishes
# and Cargo.lock records). Cargo downloads it; this script checks the hash itself before
# unpacking it. Nothing of Core's source enters the checkout.
#
# Output: $SLUICE_CACHE/bitcoin-core-<crate version>/bin/{bitcoind,bitcoin-cli}, where
# SLUICE_CACHE defaults to ~/.cache/sluice. SLUICE_BITCOIND_OPT=2 builds Core's own -O2
# instead of the tests' -O0, into bitcoin-core-<crate version>-O2/: the node to compare
# speed against (the peer benchmark, `cargo bench -p sluice-devnet --bench peer_signing`). The tests look there unless SLUICE_BITCOIND_DIR
# names another directory holding both binaries. Idempotent: when both binaries exist and
# report the expected version it does nothing. The first build takes about 3.5 minutes on
# two idle cores (the -O2 benchmark node, file by file, several times that).
#
# Needs: cargo, a C++20 compiler, and the Debian packages below (installed with apt-get when
# missing and this runs as root; otherwise it says which to install).
set -euo pipefail

CRATE=libbitcoinkernel-sys
CRATE_VERSION=0.4.1
CRATE_SHA256=345d18a1ce19a1becfcaaa066e3a60e9c7813ef5c23ea8c20704ca4ba1a46339
# What `bitcoind -version` prints first for this tree (CMakeLists.txt: 31.99.0, not a
# release, so Core appends "-unk" when built outside a git checkout).
EXPECTED_VERSION="Bitcoin Core daemon version v31.99.0"
DEBIAN_PACKAGES=(cmake g++ make pkg-config libboost-dev libevent-dev libsqlite3-dev)

cache="${SLUICE_CACHE:-$HOME/.cache/sluice}"
opt="${SLUICE_BITCOIND_OPT:-0}"
case "$opt" in
  # The tests' node. (Until 2026-12-03 it was built at -O1 into the same directory; such a
  # build passes the version check below and is kept.)
  0) root="$cache/bitcoin-core-$CRATE_VERSION" ;;
  2) root="$cache/bitcoin-core-$CRATE_VERSION-O2" ;;
  *) echo "SLUICE_BITCOIND_OPT must be 0 (tests) or 2 (benchmarks), not '$opt'"; exit 1 ;;
esac
bin="$root/bin"

# One build at a time per cache (CI, a developer and the helpers' test runs may all call
# this): a second caller waits for the first, then finds the binaries built.
mkdir -p "$cache"
exec 9>"$root.lock"
flock 9

installed_version() {
  "$bin/bitcoind" -version 2>/dev/null | head -n 1 || true
}

has_expected_version() {
  case "$(installed_version)" in
    "$EXPECTED_VERSION" | "$EXPECTED_VERSION"-*) return 0 ;;
    *) return 1 ;;
  esac
}

if [ -x "$bin/bitcoind" ] && [ -x "$bin/bitcoin-cli" ]; then
  if has_expected_version; then
    echo "bitcoind already built: $bin ($(installed_version))"
    exit 0
  fi
  echo "$bin/bitcoind reports '$(installed_version)', expected '$EXPECTED_VERSION': rebuilding"
fi

# Build dependencies.
missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "building Bitcoin Core needs these packages: ${missing[*]}"
    echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run $0 again"
    exit 1
  fi
  echo "== installing Bitcoin Core build packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The pinned source, downloaded by Cargo into its registry cache.
work="$root/work"
mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<EOF
[package]
name = "sluice-bitcoin-core-source"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$CRATE = "=$CRATE_VERSION"
EOF
echo 'fn main() {}' > "$work/fetch/src/main.rs"
echo "== fetching $CRATE $CRATE_VERSION"
(cd "$work/fetch" && cargo fetch --quiet)
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
crate_file=""
for candidate in "$cargo_home"/registry/cache/*/"$CRATE-$CRATE_VERSION.crate"; do
  if [ -f "$candidate" ] && [ "$(sha256sum "$candidate" | cut -d' ' -f1)" = "$CRATE_SHA256" ]; then
    crate_file="$candidate"
    break
  fi
done
if [ -z "$crate_file" ]; then
  echo "no $CRATE-$CRATE_VERSION.crate with SHA-256 $CRATE_SHA256 under $cargo_home/registry/cache:"
  echo "the download is not the pinned source; refusing to build it"
  exit 1
fi

src="$work/src"
rm -rf "$src"
mkdir -p "$src"
tar -xzf "$crate_file" -C "$src" --strip-components=1 "$CRATE-$CRATE_VERSION/bitcoin"

echo "== building bitcoind and bitcoin-cli (no wallet, no GUI, no tests) into $bin"
jobs="$(nproc 2>/dev/null || echo 2)"
# -O0, not Core's -O2: the node serves regtest tests and the devnet, where it does little
# work (a few hundred small blocks and transactions per test), and unoptimised C++ compiles
# in far less CPU time on the two cores CI shares with the Rust build.
# (Core keeps a CMAKE_CXX_FLAGS_RELEASE given on the command line as it is.) Not for speed
# comparisons: a benchmark against Core uses the -O2 build (SLUICE_BITCOIND_OPT=2, below).
# The tests' node is also a unity build (CMake's CMAKE_UNITY_BUILD: the sources of each
# library compiled in batches of 8, so Core's heavy headers are parsed once per batch, not
# once per file): measured alone on two idle cores, 758 CPU-seconds and 6.5 min without it,
# 349 CPU-seconds and 3.1 min with it (2026-12-03). Two files of this tree do not compile
# into a batch (a `CacheSizes` name clash; a function that pulls node-only symbols into
# bitcoin-cli), so they are compiled on their own. The benchmark node (-O2) is built file by
# file, as Core's own build does.
unity=()
if [ "$opt" = 0 ]; then
  unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8)
  cat >>"$src/bitcoin/src/CMakeLists.txt" <<'CMAKE'

# Added by Sluice's scripts/build-bitcoind.sh for its unity build: files that do not
# compile together with their neighbours.
set_source_files_properties(node/chainstate.cpp init/common.cpp PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
CMAKE
fi
cmake -S "$src/bitcoin" -B "$work/build" "${unity[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O$opt" -DCMAKE_C_FLAGS_RELEASE="-O$opt" \
  -DENABLE_WALLET=OFF -DWITH_EMBEDDED_ASMAP=OFF \
  -DBUILD_DAEMON=ON -DBUILD_CLI=ON -DBUILD_BITCOIN_BIN=OFF \
  -DBUILD_TESTS=OFF -DBUILD_BENCH=OFF -DBUILD_GUI=OFF -DBUILD_TX=OFF -DBUILD_UTIL=OFF \
  -DBUILD_KERNEL_LIB=OFF -DENABLE_IPC=OFF -DWITH_ZMQ=OFF -DENABLE_EXTERNAL_SIGNER=OFF \
  -DWITH_CCACHE=OFF -DINSTALL_MAN=OFF >"$work/cmake.log" 2>&1 \
  || { tail -n 40 "$work/cmake.log"; echo "cmake configure failed (full log: $work/cmake.log)"; exit 1; }
cmake --build "$work/build" --target bitcoind bitcoin-cli -j "$jobs" >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log"; echo "build failed (full log: $work/build.log)"; exit 1; }

mkdir -p "$bin"
install -m 0755 "$work/build/bin/bitcoind" "$work/build/bin/bitcoin-cli" "$bin/"
if ! has_expected_version; then
  echo "built bitcoind reports '$(installed_version)', expected '$EXPECTED_VERSION'"
  exit 1
fi
rm -rf "$src" "$work/build" "$work/fetch"
echo "bitcoind built: $bin ($(installed_version))"
