#!/usr/bin/env bash
# The cold signer (issue 13, item 1): `sluice-signer` built without default features has
# no networking code and is statically linked, so the appliance image needs neither a
# network stack in the program nor a libc of its own version.
#
# Proves it four ways: the dependency tree holds no networking crate (nor Bitcoin Core's C++
# interpreter, which the musl build cannot link); the binary is statically linked against
# musl (`file` and `ldd` say static, `nm -D` finds no dynamic symbol, musl's own symbols are
# in it); its symbols hold no networking crate's code, none of std's TCP/UDP/lookup code and
# no libc socket function at all; and `sluice-signer demo` (the whole cold path) makes no
# network system call under strace. Builds the debug profile (keeps every symbol the linker
# kept; faster on CI) for x86_64-unknown-linux-musl with Debian's musl-tools (musl-gcc), the
# same build hardware/build.sh puts in the image. Runs from .ci/run; usable alone.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
features=(-p sluice-signer --no-default-features)

echo "== cold signer: dependency tree"
tree="$(cargo tree "${features[@]}" -e normal --prefix none --locked)"
network_crates='^(tokio|tokio-[a-z-]+|hyper|hyper-util|http-body-util|h2|mio|socket2|arti-client|arti|tor-[a-z0-9-]+|sluice-tor|reqwest|ureq|native-tls|openssl|rustls|async-native-tls) v'
if grep -E "$network_crates" <<<"$tree" | sort -u; then
  echo "the cold signer depends on the networking crates above"; exit 1
fi
if grep -E '^bitcoinconsensus v' <<<"$tree"; then
  echo "the cold signer depends on bitcoinconsensus (C++): the musl build cannot link it"; exit 1
fi

# The build the appliance image (hardware/build.sh) puts in the image: one build for both.
echo "== cold signer: static musl build ($target, hardware/build.sh --signer)"
bin="$(realpath "$(hardware/build.sh --signer)")"

if ! file "$bin" | grep -qE "static(-pie)? linked|statically linked"; then
  file "$bin"; echo "the cold signer is not statically linked"; exit 1
fi
if ldd "$bin" 2>&1 | grep -q '=>'; then
  ldd "$bin"; echo "ldd finds shared libraries the cold signer needs"; exit 1
fi
echo "ldd: $(ldd "$bin" 2>&1 | head -n1)"
# musl, not glibc: musl's internal symbols are there, glibc's are not.
symbols="$(nm "$bin")"
if ! grep -qE ' __init_libc$' <<<"$symbols" \
   || grep -qE ' (__libc_start_call_main|_dl_relocate_static_pie|__nss_database_lookup2?)$' <<<"$symbols"; then
  echo "the cold signer is not linked against musl"; exit 1
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

# No libc function that makes, names or connects a socket either: musl links only what is
# called, and nothing in the cold signer calls them (with static glibc its name-service code
# brought socket() and connect() along; that is gone with musl). Functions that only move
# bytes on a socket someone else made (recvfrom, socketpair: std's Unix-socket code) are
# listed, not refused: without socket() there is nothing for them to reach a network with.
libc_funcs="$(nm "$bin" | awk '$2 ~ /^[TtWw]$/ { print $3 }')"
libc_socket="$(grep -E '^(socket|connect|bind|listen|accept|accept4|getaddrinfo|gethostbyname|gethostbyname_r|res_query)$' <<<"$libc_funcs" | sort -u | tr '\n' ' ' || true)"
if [ -n "$libc_socket" ]; then
  echo "libc socket functions in the cold signer: $libc_socket"; exit 1
fi
echo "libc socket(), connect(), bind(), listen(), accept(), getaddrinfo(): none in the cold signer"
other="$(grep -E '^(send|sendto|sendmsg|recv|recvfrom|recvmsg|socketpair|shutdown|getsockopt|setsockopt)$' <<<"$libc_funcs" | sort -u | tr '\n' ' ' || true)"
echo "libc socket I/O functions present (no socket to use them on): ${other:-none}"

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
echo "cold signer: no networking crates, no Rust networking code, no libc socket(), statically linked with musl ($bin)"
