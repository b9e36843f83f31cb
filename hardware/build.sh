#!/usr/bin/env bash
# Builds the air-gapped signer appliance image (issue 13, item 2) with one command:
#
#   hardware/build.sh            build (or reuse the cached build) and print the image directory
#   hardware/build.sh --verify   build the image twice from the same inputs and insist that the
#                                two builds are byte for byte the same (reproducibility)
#   hardware/build.sh --signer   build only the cold signer and print its path (used by
#                                scripts/check-cold-build.sh: the check and the image share
#                                one build)
#   hardware/build.sh --feeder   TESTS ONLY: build the static sluice-vivid-feeder (the camera
#                                test's tool) and print its path
#   hardware/build.sh --camera-test DIR
#                                TESTS ONLY: the camera test boot (signer/tests/camera_qemu.rs)
#                                in DIR: the image's kernel, and its initrd.img with a second
#                                archive appended that adds the kernel's virtual video driver
#                                (vivid) with its modules, hardware/camera-test/init and the
#                                static test tool sluice-vivid-feeder. The image itself is not
#                                changed: the appliance's initrd has none of these.
#
# The image is a directory holding
#   vmlinuz      Debian's kernel, unchanged from the pinned `linux-image-*-amd64` package
#   initrd.img   the whole root file system: a static busybox (only non-networking applets are
#                linked), the block and file-system modules it needs (no network driver), /init,
#                the operator menu, and the cold `sluice-signer` (no networking code, static)
#   cmdline      the kernel command line to boot it with
#   SHA256SUMS   the hashes of the three; the image hash is the SHA-256 of this file
#
# Inputs: two Debian packages pinned by version and SHA-256 below (fetched with `apt-get
# download`), the files in hardware/image/, and this repository's cold signer build. The
# result is cached in ${SLUICE_CACHE:-~/.cache/sluice}/appliance-KEY, KEY being the hash of
# all inputs (package hashes, the sources the signer is built from, the compiler version),
# so CI builds it once per change of inputs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

verify=0
signer_only=0
camera_test_dir=""
feeder_only=0
case "${1:-}" in
  "") ;;
  --verify) verify=1 ;;
  --signer) signer_only=1 ;;
  --feeder) feeder_only=1 ;;
  --camera-test) camera_test_dir="${2:?usage: hardware/build.sh --camera-test DIR}" ;;
  *) echo "usage: hardware/build.sh [--verify | --signer | --feeder | --camera-test DIR]" >&2; exit 2 ;;
esac

# The Debian packages, pinned. A new Debian point release replaces them on the mirrors: then
# take the new versions and hashes from `apt-get download` (or fetch these exact files from
# snapshot.debian.org) and update both lines.
kernel_pkg=linux-image-6.1.0-57-amd64
kernel_version=6.1.192-3
kernel_sha256=14d219d01e1283261817d961dbb3895cb5b4288d0de10e0ba0632a0d993e15bf
kernel_release=6.1.0-57-amd64
busybox_pkg=busybox-static
busybox_version=1:1.35.0-4+deb12u1+b1
busybox_sha256=3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744

# Every file timestamp in the image; changing it changes the image hash.
export SOURCE_DATE_EPOCH=1767225600 # 2026-01-01T00:00:00Z

target=x86_64-unknown-linux-musl
cache_root="${SLUICE_CACHE:-$HOME/.cache/sluice}"
mkdir -p "$cache_root"

for tool in cpio gzip dpkg-deb apt-get sha256sum strip musl-gcc; do
  command -v "$tool" >/dev/null || { echo "hardware/build.sh needs $tool (Debian: apt-get install cpio dpkg apt binutils musl-tools)" >&2; exit 1; }
done
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "hardware/build.sh needs Rust's $target standard library: rustup target add $target" >&2
  exit 1
fi

# One build at a time per cache: the qemu tests run side by side and each asks for the
# image; a second caller waits for the first, then finds the image cached.
exec 9>"$cache_root/appliance-build.lock"
flock 9

# The cache key: everything the image is made from.
cache_key() {
  {
    echo "$kernel_pkg $kernel_version $kernel_sha256"
    echo "$busybox_pkg $busybox_version $busybox_sha256"
    echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
    rustc -vV
    musl-gcc --version | head -n1
    dpkg-query -W musl-dev 2>/dev/null || true
    # Sources the cold signer is built from (contents, not git state: a dirty tree counts).
    git -C "$repo" ls-files -z --cached --others --exclude-standard -- \
        Cargo.toml Cargo.lock signer/Cargo.toml signer/src shared/Cargo.toml shared/src fsutil/Cargo.toml fsutil/src \
        hardware/build.sh hardware/image \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}

# Downloads a pinned package into the cache and checks its hash.
fetch_deb() { # name version sha256
  local name="$1" version="$2" sha="$3" dir="$cache_root/debs"
  local file="$dir/${name}_${version#*:}_amd64.deb"
  mkdir -p "$dir"
  if [ ! -f "$file" ] || ! echo "$sha  $file" | sha256sum -c --status; then
    local tmp
    tmp="$(mktemp -d "$dir/download.XXXXXX")"
    (cd "$tmp" && apt-get download -q "$name=$version" >/dev/null 2>&1) \
      || { rm -rf "$tmp"; echo "apt-get download $name=$version failed: run apt-get update, or fetch it from snapshot.debian.org into $dir" >&2; return 1; }
    mv "$tmp"/*.deb "$file"
    rm -rf "$tmp"
  fi
  echo "$sha  $file" | sha256sum -c --status \
    || { echo "$file does not have the pinned SHA-256 $sha: refusing to build from it" >&2; return 1; }
  echo "$file"
}

# The cold signer: no default features (no online, no Tor, no Bitcoin Core C++ interpreter:
# its final check is miniscript's, in Rust), for musl (static by default; the C parts,
# libsecp256k1 and SQLite, compiled with Debian's musl-gcc), paths in the binary
# mapped to fixed names so the build does not depend on where the checkout lives. The dev
# profile, as scripts/check-cold-build.sh checks it (one build for both; the workspace
# compiles dependencies optimised even there (Cargo.toml), so signing under emulation is quick).
# The target directory is SLUICE_COLD_TARGET_DIR when set (.ci/run: its own directory for
# the static builds, so that the tests' own build directory is never shared with them).
# Always non-incremental, whatever the caller's CARGO_INCREMENTAL says: Cargo keeps
# incremental and non-incremental builds apart, so callers that differed there (.ci/run's
# image build, the qemu tests, scripts/check-cold-build.sh) each recompiled our crates.
build_static() { # package binary -> path of the static musl build
  local target_dir="${SLUICE_COLD_TARGET_DIR:-${CARGO_TARGET_DIR:-$repo/target}}"
  local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS CARGO_TARGET_DIR="$target_dir" CARGO_INCREMENTAL=0 \
    CC_x86_64_unknown_linux_musl=musl-gcc AR_x86_64_unknown_linux_musl=ar \
    RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$repo=/sluice --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target" \
    cargo build --locked -p "$1" --no-default-features --bin "$2" \
      --target "$target" >&2
  echo "$target_dir/$target/debug/$2"
}

build_signer() { build_static sluice-signer sluice-signer; }

# The modules the appliance loads, and everything they depend on (from each module's
# `depends=` field). Block devices and file systems only: virtio (qemu), SATA, USB mass
# storage and SD host controllers; ext4 for the signer home (crc32c: its checksums, a soft
# dependency missing from `depends=`), vfat for the SD card. The display: bochs (qemu's
# standard VGA, a DRM driver whose fbdev emulation gives /dev/fb0 for the QR frame loop;
# on UEFI machines the kernel's built-in efifb gives it without a module). The camera: USB
# webcams (uvcvideo, the USB Video Class driver) for QR codes shown to the appliance.
modules_wanted=(virtio_pci virtio_blk ahci sd_mod xhci-pci ehci-pci usb-storage uas
                sdhci-pci mmc_block crc32c_generic ext4 vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1
                bochs uvcvideo)

module_path() { # tree name -> path relative to tree
  local found
  found="$(cd "$1" && find "lib/modules/$kernel_release/kernel" -name "$2.ko" -o -name "${2//_/-}.ko" -o -name "${2//-/_}.ko" | LC_ALL=C sort | head -n1)"
  [ -n "$found" ] || { echo "module $2 is not in $kernel_pkg" >&2; return 1; }
  echo "$found"
}

module_closure() { # tree module... -> module paths (relative), dependencies first
  local tree="$1" seen=" " order=() m
  shift
  local queue=("$@")
  # Depth-first, dependencies before dependants.
  visit() {
    local name="$1" p d
    p="$(module_path "$tree" "$name")"
    case "$seen" in *" $p "*) return 0 ;; esac
    seen="$seen$p "
    d="$(strings "$tree/$p" | sed -n 's/^depends=//p' | head -n1)"
    local IFS=,
    for dep in $d; do [ -n "$dep" ] && visit "$dep"; done
    order+=("$p")
  }
  for m in "${queue[@]}"; do visit "$m"; done
  printf '%s\n' "${order[@]}"
}

# The network applets of busybox: never linked into the image (the binary still contains
# them; see hardware/README.md). Only the applets below are linked.
busybox_applets=(sh ash cat chmod cp dd df dmesg echo env false find grep head ls mkdir
                 mke2fs mknod insmod mount poweroff printf readlink rm
                 sed seq sha256sum sleep stat stty sync tail test '[' tr true umount uname wc
                 xargs blockdev findfs setsid cttyhack clear)

build_image() { # out_dir
  local out="$1" work kernel_deb busybox_deb signer root
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # the directory is fixed now
  trap "rm -rf '$work'" RETURN
  kernel_deb="$(fetch_deb "$kernel_pkg" "$kernel_version" "$kernel_sha256")"
  busybox_deb="$(fetch_deb "$busybox_pkg" "$busybox_version" "$busybox_sha256")"
  signer="$(build_signer)"

  mkdir -p "$work/kernel" "$work/busybox"
  dpkg-deb -x "$kernel_deb" "$work/kernel"
  dpkg-deb -x "$busybox_deb" "$work/busybox"

  root="$work/root"
  mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,mnt/sd,home/signer,etc,lib/modules/"$kernel_release"}
  cp "$work/busybox/bin/busybox" "$root/bin/busybox"
  local available
  available="$("$root/bin/busybox" --list)"
  for applet in "${busybox_applets[@]}"; do
    grep -qxF -- "$applet" <<<"$available" \
      || { echo "busybox $busybox_version has no applet $applet" >&2; return 1; }
    ln -s busybox "$root/bin/$applet"
  done
  strip --strip-all -o "$root/bin/sluice-signer" "$signer"
  install -m 0755 hardware/image/init "$root/init"
  install -m 0755 hardware/image/menu "$root/bin/sluice-menu"
  install -m 0644 hardware/image/inittab "$root/etc/inittab"

  # Modules, dependencies first; /init loads them in this order and then disables loading.
  local list="$root/etc/modules.load"
  : >"$list"
  while read -r rel; do
    mkdir -p "$root/$(dirname "$rel")"
    cp "$work/kernel/$rel" "$root/$rel"
    echo "/$rel" >>"$list"
  done < <(module_closure "$work/kernel" "${modules_wanted[@]}")
  if grep -E '/drivers/net/|/net/' "$list"; then
    echo "a network module slipped into the image (above)" >&2; return 1
  fi

  # Deterministic archive: fixed times, sorted names, owner 0, no gzip name or time.
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$out"
  (cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
     | cpio --quiet -o -0 -H newc -R 0:0 --reproducible) | gzip -n -9 >"$out/initrd.img"
  cp "$work/kernel/boot/vmlinuz-$kernel_release" "$out/vmlinuz"
  cp hardware/image/cmdline "$out/cmdline"
  (cd "$out" && sha256sum vmlinuz initrd.img cmdline >SHA256SUMS)
}

image_hash() { sha256sum "$1/SHA256SUMS" | cut -d' ' -f1; }

# TESTS ONLY (see --camera-test above): the image's initrd with a second gzip'd cpio archive
# appended (the kernel unpacks both, in order), holding vivid and the modules it needs that
# the image lacks, the test's init and the feeder. Boot it with rdinit=/camera-test.
build_camera_test() { # image_dir out_dir
  local image="$1" out="$2" work kernel_deb feeder root rel
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # the directory is fixed now
  trap "rm -rf '$work'" RETURN
  kernel_deb="$(fetch_deb "$kernel_pkg" "$kernel_version" "$kernel_sha256")"
  feeder="$(build_static sluice-vivid-feeder sluice-vivid-feeder)"
  mkdir -p "$work/kernel" "$work/image"
  dpkg-deb -x "$kernel_deb" "$work/kernel"
  (cd "$work/image" && gzip -dc "$image/initrd.img" | cpio --quiet -i -d '*etc/modules.load')
  root="$work/root"
  mkdir -p "$root/bin" "$root/etc"
  strip --strip-all -o "$root/bin/sluice-vivid-feeder" "$feeder"
  install -m 0755 hardware/camera-test/init "$root/camera-test"
  : >"$root/etc/camera-test-modules.load"
  while read -r rel; do
    grep -qxF "/$rel" "$work/image/etc/modules.load" && continue
    mkdir -p "$root/$(dirname "$rel")"
    cp "$work/kernel/$rel" "$root/$rel"
    echo "/$rel" >>"$root/etc/camera-test-modules.load"
  done < <(module_closure "$work/kernel" vivid)
  mkdir -p "$out"
  cp "$image/vmlinuz" "$out/vmlinuz"
  (cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
     | cpio --quiet -o -0 -H newc -R 0:0 --reproducible) | gzip -n -9 >"$work/overlay.gz"
  cat "$image/initrd.img" "$work/overlay.gz" >"$out/initrd.img"
  echo "camera test boot in $out (appliance image $(image_hash "$image") plus $(wc -l <"$root/etc/camera-test-modules.load") modules, /camera-test, sluice-vivid-feeder)" >&2
}

if [ "$signer_only" = 1 ]; then
  build_signer
  exit 0
fi
if [ "$feeder_only" = 1 ]; then
  build_static sluice-vivid-feeder sluice-vivid-feeder
  exit 0
fi

if [ "$verify" = 1 ]; then
  one="$(mktemp -d)"; two="$(mktemp -d)"
  build_image "$one/image"
  build_image "$two/image"
  if ! cmp -s "$one/image/SHA256SUMS" "$two/image/SHA256SUMS" \
     || ! cmp -s "$one/image/initrd.img" "$two/image/initrd.img"; then
    diff "$one/image/SHA256SUMS" "$two/image/SHA256SUMS" >&2 || true
    echo "NOT reproducible: two builds from the same inputs differ (kept in $one and $two)" >&2
    exit 1
  fi
  echo "reproducible: two builds give image hash $(image_hash "$one/image")" >&2
  cat "$one/image/SHA256SUMS" >&2
  rm -rf "$one" "$two"
  exit 0
fi

dir="$cache_root/appliance-$(cache_key)"
if [ ! -f "$dir/SHA256SUMS" ]; then
  tmp="$(mktemp -d "$cache_root/appliance-build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  build_image "$tmp/image"
  rm -rf "$dir"
  mv "$tmp/image" "$dir"
  rm -rf "$tmp"
fi
(cd "$dir" && sha256sum -c --quiet SHA256SUMS) \
  || { echo "the cached image in $dir does not match its SHA256SUMS: delete it and build again" >&2; exit 1; }
echo "appliance image hash $(image_hash "$dir")" >&2
if [ -n "$camera_test_dir" ]; then
  build_camera_test "$dir" "$camera_test_dir"
  echo "$camera_test_dir"
  exit 0
fi
echo "$dir"
