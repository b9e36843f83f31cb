#!/usr/bin/env bash
# The cold signer (issue 13, item 1): `sluice-signer` built without default features has
# no networking code and is statically linked, so the appliance image needs neither a
# network stack in the program nor a libc of its own version.
#
# Proves it four ways: the dependency tree holds no networking crate; the binary is
# statically linked (so `nm -D` finds no dynamic symbol to resolve at run time); its
# symbols hold no networking crate's code and none of std's TCP/UDP/lookup code; and
# `sluice-signer demo` (the whole cold path) makes no network system call under strace.
# Builds the debug profile (keeps every symbol the
# linker kept; faster on CI) for the gnu target with `+crt-static`, not for musl: the
# x86_64-unknown-linux-musl target installs (`rustup target add`) and Debian's musl-tools
# give a musl C compiler, but the signer links Bitcoin Core's C++ script interpreter
# (`bitcoinconsensus`, through sluice-shared) and Debian has no C++ compiler or libstdc++
# for musl (the build stops at "failed to find tool x86_64-linux-musl-g++"). See
# docs/benchmarks.md ("Cold signer build"). Runs from .ci/run; usable alone.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
features=(-p sluice-signer --no-default-features)

echo "== cold signer: dependency tree"
tree="$(cargo tree "${features[@]}" -e normal --prefix none --locked)"
network_crates='^(tokio|tokio-[a-z-]+|hyper|hyper-util|http-body-util|h2|mio|socket2|arti-client|arti|tor-[a-z0-9-]+|sluice-tor|reqwest|ureq|native-tls|openssl|rustls|async-native-tls) v'
if grep -E "$network_crates" <<<"$tree" | sort -u; then
  echo "the cold signer depends on the networking crates above"; exit 1
fi

# The build the appliance image (hardware/build.sh) puts in the image: one build for both.
echo "== cold signer: static build (+crt-static, $target, hardware/build.sh --signer)"
bin="$(realpath "$(hardware/build.sh --signer)")"

if ! file "$bin" | grep -qE "static(-pie)? linked|statically linked"; then
  file "$bin"; echo "the cold signer is not statically linked"; exit 1
fi
if [ -n "$(nm -D "$bin" 2>/dev/null)" ]; then
  nm -D "$bin" | head; echo "the cold signer has dynamic symbols"; exit 1
fi

# No Rust code that opens a connection: no symbol of a networking crate, none of std's
# TCP/UDP/name-lookup code.
rust_net="$(nm -C "$bin" | grep -E ' (tokio|hyper|hyper_util|h2|mio|socket2|arti_client|tor_[a-z0-9_]+|sluice_tor)::|std::net::|TcpStream|TcpListener|UdpSocket|LookupHost' | head || true)"
if [ -n "$rust_net" ]; then
  echo "$rust_net"; echo "the cold signer contains networking code (above)"; exit 1
fi

# What glibc itself links in. A static glibc carries its name-service and resolver code
# (NSS, nscd client, DNS) as soon as anything can call getpwuid_r or getaddrinfo, and
# Rust's std can (home_dir, ToSocketAddrs); that code holds socket()/connect(). Listed
# here, not refused: see docs/benchmarks.md ("Cold signer build") for what this means.
libc_socket="$(nm "$bin" | awk '$2 ~ /^[TtWw]$/ { print $3 }' \
  | grep -E '^(socket|connect|bind|listen|accept|accept4|getaddrinfo)$' | sort -u | tr '\n' ' ' || true)"
echo "glibc socket functions present in the static binary (glibc's NSS/resolver): ${libc_socket:-none}"

# The cold path end to end (keys, wallet, limits, SD card, QR) makes no network system
# call at all.
if command -v strace >/dev/null; then
  demo_dir="$(mktemp -d)"
  trace="$demo_dir/strace.txt"
  (cd "$demo_dir" && strace -f -qq -e trace=%network -o "$trace" "$bin" demo >/dev/null) \
    || { echo "sluice-signer demo failed under strace"; exit 1; }
  calls="$(grep -vE '^[0-9]+ +(---|\+\+\+)' "$trace" || true)"
  rm -rf "$demo_dir"
  if [ -n "$calls" ]; then
    echo "$calls"; echo "the cold signer made network system calls (above)"; exit 1
  fi
  echo "sluice-signer demo under strace: no network system call"
else
  echo "strace is missing: install it (Debian: apt-get install strace) to check the demo's system calls"; exit 1
fi
echo "cold signer: no networking crates or Rust networking code, statically linked ($bin)"
