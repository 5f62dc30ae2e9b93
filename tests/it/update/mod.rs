//! Remote update with rollback (issue #16), end to end: the real daemon as a process with the
//! cloud on (mosquitto, mTLS), a `gateway.update` from the test's cloud, the release served
//! over HTTPS and signed with a per-test Ed25519 key, and the real helper
//! (`fluxprint-gateway apply-update`) swapping binaries. The test plays systemd: `Systemd`
//! runs the helper when `request.json` appears (the path unit) and `restart.sh` stops the
//! daemon and starts the installed binary again (`[update] restart_command`).
//!
//! The new version is a real second build: `scripts/test` builds the binary once more with
//! `FLUXPRINT_VERSION_SUFFIX=-next` (only the binary crate recompiles) into
//! `target/update-next/fluxprint-gateway`. The rollback test installs it too: `restart.sh`
//! starts it with a config whose cloud link trusts another CA, so the real new binary runs
//! but never reports healthy, and the helper puts the old one back.

mod farm;
mod flows;
mod units;

pub use farm::*;
