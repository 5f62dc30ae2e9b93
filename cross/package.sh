#!/usr/bin/env bash
# Build the Debian packages of fluxprint-gateway from the release builds, with dpkg-deb.
#
#   cross/package.sh                     arm64, armhf and amd64
#   cross/package.sh --arch A            one architecture (repeatable): arm64, armhf, amd64
#   cross/package.sh --version V         package version (default: Cargo.toml's, with a
#                                        pre-release '-' turned into '~' so it sorts first)
#   cross/package.sh --out DIR           where the .deb files go (default: target/debian)
#   cross/package.sh --no-build          package the binaries already built, never run cargo
#
# Writes DIR/fluxprint-gateway_<version>_<arch>.deb and prints its path. The packaging files
# are in packaging/debian/; the binary comes from `cargo build --release` (amd64 on an
# x86_64 machine) or cross/build.sh (arm64, armhf). Missing Debian packages are installed
# when running as root.
set -euo pipefail
shopt -s inherit_errexit

readonly ALL_ARCHES=(arm64 armhf amd64)
readonly PACKAGES=(binutils dpkg-dev help2man qemu-user)  # + cross/build.sh's for arm64, armhf
readonly MAINTAINER="FluxPrint <gateway@fluxprint.example>"
# NEEDED libraries the binary may have, and the package providing each (Debian 12 names).
declare -rA LIBRARY_PACKAGES=(
  [libc.so.6]=libc6 [libm.so.6]=libc6 [libdl.so.2]=libc6 [libpthread.so.0]=libc6
  [librt.so.1]=libc6 [ld-linux-aarch64.so.1]=libc6 [ld-linux-armhf.so.3]=libc6
  [ld-linux-x86-64.so.2]=libc6 [libgcc_s.so.1]=libgcc-s1
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packaging="$repo_root/packaging/debian"
arches=()
version=""
out_dir=""
build=true
work=""  # scratch: package trees, the man page's wrapper
epoch=""  # SOURCE_DATE_EPOCH for the files in the packages

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  echo "cross/package.sh: $*" >&2
  exit 1
}

parse_args() {
  while (($#)); do
    case "$1" in
      --arch)
        [[ $# -ge 2 ]] || die "--arch needs a value"
        case "$2" in
          arm64 | armhf | amd64) arches+=("$2") ;;
          *) echo "unsupported architecture: $2 (expected one of: ${ALL_ARCHES[*]})" >&2; exit 2 ;;
        esac
        shift 2
        ;;
      --version) [[ $# -ge 2 ]] || die "--version needs a value"; version="$2"; shift 2 ;;
      --out) [[ $# -ge 2 ]] || die "--out needs a value"; out_dir="$2"; shift 2 ;;
      --no-build) build=false; shift ;;
      -h | --help) usage; exit 0 ;;
      *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  ((${#arches[@]})) || arches=("${ALL_ARCHES[@]}")
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || die "missing packages: ${missing[*]} (run as root, or install them with apt-get)"
  echo "==> installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

target_dir() {
  echo "${CARGO_TARGET_DIR:-$repo_root/target}"
}

cargo_version() {
  sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo_root/Cargo.toml" | head -n1
}

# Per architecture: the Rust target triple, the binutils prefix, the ELF machine name and the
# qemu runner (for help2man).
triple_of() {
  case "$1" in
    arm64) echo aarch64-unknown-linux-gnu ;;
    armhf) echo armv7-unknown-linux-gnueabihf ;;
    amd64) echo x86_64-unknown-linux-gnu ;;
  esac
}

binutils_prefix_of() {
  case "$1" in
    arm64) echo aarch64-linux-gnu- ;;
    armhf) echo arm-linux-gnueabihf- ;;
    amd64) echo x86_64-linux-gnu- ;;
  esac
}

elf_machine_of() {
  case "$1" in
    arm64) echo AArch64 ;;
    armhf) echo ARM ;;
    amd64) echo 'Advanced Micro Devices X86-64' ;;
  esac
}

runner_of() {
  case "$1" in
    arm64) echo "qemu-aarch64 -L /usr/aarch64-linux-gnu" ;;
    armhf) echo "qemu-arm -L /usr/arm-linux-gnueabihf" ;;
    amd64) [[ "$(uname -m)" == x86_64 ]] || echo "qemu-x86_64 -L /usr/x86_64-linux-gnu" ;;
  esac
}

# The release binary of an arch. amd64 on an x86_64 machine is the plain `cargo build
# --release` (target/release), the same binary developers run.
native() {
  [[ "$1" == amd64 && "$(uname -m)" == x86_64 ]]
}

build_binary() {
  if native "$1"; then
    (cd "$repo_root" && cargo build --release --locked >&2)
  else
    "$repo_root/cross/build.sh" --target "$(triple_of "$1")" >&2
  fi
}

binary_of() {
  if native "$1"; then
    echo "$(target_dir)/release/fluxprint-gateway"
  else
    echo "$(target_dir)/$(triple_of "$1")/release/fluxprint-gateway"
  fi
}

# Depends: the packages behind the binary's NEEDED libraries, each at the newest symbol
# version the binary imports from it (GLIBC_2.35 → libc6 (>= 2.35), GCC_4.2.0 → libgcc-s1
# (>= 4.2)): what dpkg-shlibdeps derives from the libraries' symbols files, which the cross
# architectures have no copy of here (tests/debian/run compares the two on amd64). The
# service needs systemd's sysusers, as debhelper's dh_installsysusers says.
depends_of() {
  local binary="$1" lib package symver deps=()
  while read -r lib; do
    package="${LIBRARY_PACKAGES[$lib]:-}"
    [[ -n "$package" ]] || die "$binary needs $lib: add its Debian package to LIBRARY_PACKAGES"
    case "$package" in
      libc6) symver="$(newest_symbol_version "$binary" GLIBC)"; deps+=("libc6 (>= $symver)") ;;
      libgcc-s1) symver="$(newest_symbol_version "$binary" GCC)"; deps+=("libgcc-s1 (>= $symver)") ;;
      *) deps+=("$package") ;;
    esac
  done < <(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  local list
  list="$(printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g')"
  echo "$list, systemd | systemd-standalone-sysusers | systemd-sysusers"
}

# The newest PREFIX_x.y[.z] version among the binary's imported symbols, as Debian's symbols
# files write it (x.y.0 is x.y).
newest_symbol_version() {
  local found
  found="$(readelf -W --dyn-syms "$1" | grep -o "@$2_[0-9.]*" | cut -d_ -f2 | sort -uV | tail -n1)"
  [[ -n "$found" ]] || die "$1 imports no $2_ versioned symbol"
  [[ "$found" =~ ^([0-9]+\.[0-9]+)\.0$ ]] && found="${BASH_REMATCH[1]}"
  echo "$found"
}

# The man page, from the binary's own --help (top level and each command) through help2man.
man_page() {
  local arch="$1" binary="$2" version="$3" dest="$4" runner commands command
  runner="$(runner_of "$arch")"
  # help2man names the page after the program it runs: a wrapper with the binary's name.
  printf '#!/bin/sh\nexec %s %q "$@"\n' "$runner" "$binary" >"$work/fluxprint-gateway"
  chmod +x "$work/fluxprint-gateway"
  commands="$("$work/fluxprint-gateway" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | grep -vx help)"
  {
    cat "$packaging/fluxprint-gateway.h2m"
    echo "[COMMANDS]"
    for command in $commands; do
      printf '.SS %s\n.nf\n' "$command"
      "$work/fluxprint-gateway" "$command" --help | sed 's/\\/\\e/g; s/^\./\\\&./'
      printf '.fi\n'
    done
  } >"$work/include.h2m"
  SOURCE_DATE_EPOCH="$epoch" help2man --no-info --no-discard-stderr --version-string="$version" \
    --name="printer-side gateway of FluxPrint" --section=1 \
    --include="$work/include.h2m" --output="$work/page.1" "$work/fluxprint-gateway"
  gzip -9n <"$work/page.1" >"$dest"
}

# dpkg-gencontrol's Installed-Size: KiB per file rounded up, one per directory or link.
installed_size() {
  find "$1" -path "$1/DEBIAN" -prune -o -mindepth 1 -printf '%y %s\n' |
    awk '$1 == "f" { kib += int(($2 + 1023) / 1024); next } { kib += 1 } END { print kib }'
}

package() {
  local arch="$1" binary stage deb
  if $build; then
    build_binary "$arch"
  fi
  binary="$(binary_of "$arch")"
  [[ -x "$binary" ]] || die "no binary at $binary (build it, or leave out --no-build)"
  readelf -h "$binary" | grep -q "Machine: *$(elf_machine_of "$arch")\$" ||
    die "$binary is not an $arch binary"
  readelf -S "$binary" | grep -q '\.symtab' && die "$binary is not stripped (profile.release strip)"

  stage="$work/$arch"
  rm -rf "$stage"
  install -D -m 0755 "$binary" "$stage/usr/bin/fluxprint-gateway"
  # Cargo already stripped the symbols; the compilers' notes go too, as dh_strip does.
  "$(binutils_prefix_of "$arch")strip" --remove-section=.comment --remove-section=.note \
    "$stage/usr/bin/fluxprint-gateway"
  # Debian 12 keeps units in /lib (usrmerge moves them to /usr/lib after bookworm).
  install -D -m 0644 "$repo_root/systemd/fluxprint-gateway.service" \
    "$stage/lib/systemd/system/fluxprint-gateway.service"
  # The update helper (issue #16): the path unit watches <state_dir>/update/request.json and
  # starts the oneshot service, which postinst neither enables nor starts by itself.
  local unit
  for unit in fluxprint-gateway-update.path fluxprint-gateway-update.service; do
    install -D -m 0644 "$repo_root/systemd/$unit" "$stage/lib/systemd/system/$unit"
  done
  install -D -m 0644 "$repo_root/systemd/sysusers.d/fluxprint.conf" \
    "$stage/usr/lib/sysusers.d/fluxprint.conf"
  install -D -m 0640 "$repo_root/config/gateway.toml" "$stage/etc/fluxprint/gateway.toml"
  # The PrusaSlicer profiles the binary has compiled in, as files to copy and tune
  # ([slicer] profiles_dir; the example config points here).
  (cd "$repo_root/config/profiles" && find . -type f -name '*.ini' -printf '%P\n') |
    while read -r profile; do
      install -D -m 0644 "$repo_root/config/profiles/$profile" \
        "$stage/usr/share/fluxprint/profiles/$profile"
    done
  local doc="$stage/usr/share/doc/fluxprint-gateway"
  install -D -m 0644 "$packaging/copyright" "$doc/copyright"
  install -D -m 0644 "$packaging/lintian-overrides" \
    "$stage/usr/share/lintian/overrides/fluxprint-gateway"
  changelog "$doc/changelog.gz"
  install -d "$stage/usr/share/man/man1"
  man_page "$arch" "$binary" "$version" "$stage/usr/share/man/man1/fluxprint-gateway.1.gz"

  install -d "$stage/DEBIAN"
  install -m 0755 "$packaging/postinst" "$packaging/prerm" "$packaging/postrm" "$stage/DEBIAN/"
  install -m 0644 "$packaging/conffiles" "$stage/DEBIAN/"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
    grep -v '^etc/' | xargs md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/md5sums"
  local depends size
  depends="$(depends_of "$binary")"
  size="$(installed_size "$stage")"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$MAINTAINER/" \
    -e "s/@INSTALLED_SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$packaging/control.in" >"$stage/DEBIAN/control"

  find "$stage" -depth -newermt "@$epoch" -exec touch -h -d "@$epoch" {} +
  deb="$out_dir/fluxprint-gateway_${version}_${arch}.deb"
  SOURCE_DATE_EPOCH="$epoch" dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  echo "$deb"
}

# Built from the project's version, not a hand-kept Debian changelog: one entry per package.
changelog() {
  local date commit
  date="$(date -u -R -d "@$epoch")"
  commit="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  printf '%s\n' \
    "fluxprint-gateway ($version) stable; urgency=medium" "" \
    "  * Release $version, built from commit $commit; the changes are in the project's" \
    "    git history." "" \
    " -- $MAINTAINER  $date" | gzip -9n >"$1"
}

main() {
  parse_args "$@"
  cd "$repo_root"
  install_packages
  [[ -n "$version" ]] || version="$(cargo_version | sed 's/-/~/')"
  [[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "not a Debian version: $version"
  out_dir="${out_dir:-$(target_dir)/debian}"
  mkdir -p "$out_dir"
  out_dir="$(cd "$out_dir" && pwd)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # Reproducible packages: file dates (and the changelog's) from the last commit. Not
  # exported: the cc crate rebuilds C code (ring, SQLite) when SOURCE_DATE_EPOCH changes, and
  # the binaries scripts/test built must be reused as they are.
  epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
  local arch
  for arch in "${arches[@]}"; do
    package "$arch"
  done
}

main "$@"
