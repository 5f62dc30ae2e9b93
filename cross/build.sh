#!/usr/bin/env bash
# Build release binaries of fluxprint-gateway for the Raspberry Pi targets, without Docker.
#
#   cross/build.sh                      both targets
#   cross/build.sh --target T           one target (aarch64-unknown-linux-gnu or
#                                       armv7-unknown-linux-gnueabihf)
#   cross/build.sh --check              also run each binary's `--version` under qemu
#
# Linkers, qemu runners and the C compilers for build scripts (ring, bundled SQLite) come from
# .cargo/config.toml. Missing Debian packages are installed when running as root.
set -euo pipefail

readonly ALL_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
readonly PACKAGES=(
  gcc-aarch64-linux-gnu
  gcc-arm-linux-gnueabihf
  libc6-dev-arm64-cross
  libc6-dev-armhf-cross
  qemu-user
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets=()
check=false

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_args() {
  while (($#)); do
    case "$1" in
      --target)
        [[ $# -ge 2 ]] || { echo "--target needs a value" >&2; exit 2; }
        case "$2" in
          aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) targets+=("$2") ;;
          *) echo "unsupported target: $2 (expected one of: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
        esac
        shift 2
        ;;
      --check) check=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  if ((${#targets[@]} == 0)); then
    targets=("${ALL_TARGETS[@]}")
  fi
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if ((EUID != 0)); then
    echo "missing packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  echo "==> installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

install_rust_targets() {
  local installed target
  installed="$(rustup target list --installed)"
  for target in "${targets[@]}"; do
    grep -qx "$target" <<<"$installed" || rustup target add "$target"
  done
}

target_dir() {
  if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    echo "$CARGO_TARGET_DIR"
  else
    echo "$repo_root/target"
  fi
}

build_target() {
  local target="$1" binary
  echo "==> cargo build --release --target $target"
  cargo build --release --locked --target "$target"
  binary="$(target_dir)/$target/release/fluxprint-gateway"
  printf '%s\t%s bytes\n' "$binary" "$(stat -c %s "$binary")"
  if $check; then
    echo "==> $target: --version under qemu"
    cargo run --quiet --release --locked --target "$target" -- --version
  fi
}

main() {
  parse_args "$@"
  cd "$repo_root"
  install_packages
  install_rust_targets
  local target
  for target in "${targets[@]}"; do
    build_target "$target"
  done
}

main "$@"
