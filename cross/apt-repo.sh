#!/usr/bin/env bash
# Put fluxprint-gateway packages into a signed apt repository for a fleet, with reprepro.
#
#   cross/apt-repo.sh --repo DIR [--key KEY] DEB...
#
# DIR is the repository's working directory (made on first use: conf/ and db/ for reprepro);
# DIR/public is what a web server serves: dists/, pool/ and fluxprint-archive-keyring.gpg,
# the public key the Pis trust the repository with. KEY is the gpg key that signs (a user id
# or fingerprint; default: the only secret key gpg has). One suite, bookworm, for arm64,
# armhf and amd64. A newer version replaces the one in the repository and `apt upgrade` on
# the Pis picks it up; the same version again is skipped (and refused if its bytes differ:
# a new build needs a new version in Cargo.toml).
set -euo pipefail
shopt -s inherit_errexit

repo=""
key=""
debs=()

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "cross/apt-repo.sh: $*" >&2; exit 1; }

parse_args() {
  while (($#)); do
    case "$1" in
      --repo) [[ $# -ge 2 ]] || die "--repo needs a value"; repo="$2"; shift 2 ;;
      --key) [[ $# -ge 2 ]] || die "--key needs a value"; key="$2"; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      -*) usage >&2; exit 2 ;;
      *) debs+=("$1"); shift ;;
    esac
  done
  [[ -n "$repo" && ${#debs[@]} -gt 0 ]] || { usage >&2; exit 2; }
  command -v reprepro >/dev/null || die "reprepro is missing: apt-get install reprepro gnupg"
}

# The fingerprint of the signing key; without --key gpg must hold exactly one secret key.
signing_key() {
  local found
  found="$(gpg --batch --with-colons --list-secret-keys ${key:+"$key"} 2>/dev/null |
    awk -F: '$1 == "sec" { want = 1 } want && $1 == "fpr" { print $10; want = 0 }')"
  [[ -n "$found" ]] || die "no secret gpg key${key:+ '$key'}; make one with:
  gpg --quick-gen-key 'FluxPrint packages <ops@example.com>' ed25519 sign never"
  (($(wc -l <<<"$found") == 1)) || die "gpg holds several secret keys: choose one with --key"
  echo "$found"
}

configure() {
  local fingerprint="$1"
  mkdir -p "$repo/conf"
  [[ -f "$repo/conf/distributions" ]] && return 0
  cat >"$repo/conf/distributions" <<EOF
Origin: FluxPrint
Label: FluxPrint Gateway
Codename: bookworm
Architectures: arm64 armhf amd64
Components: main
Description: FluxPrint Gateway packages
SignWith: $fingerprint
EOF
  echo "outdir +b/public" >"$repo/conf/options"
}

main() {
  parse_args "$@"
  local fingerprint
  fingerprint="$(signing_key)"
  configure "$fingerprint"
  reprepro --basedir "$repo" includedeb bookworm "${debs[@]}"
  gpg --batch --export "$fingerprint" >"$repo/public/fluxprint-archive-keyring.gpg"
  reprepro --basedir "$repo" list bookworm
}

main "$@"
