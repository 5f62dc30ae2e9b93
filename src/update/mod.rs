//! Remote update with rollback (issue #16): the files the sandboxed daemon and the privileged
//! helper hand each other in `<state_dir>/update/`, the release signature check, and the
//! health report the helper waits for.
//!
//! The daemon (`cloud::cmd::update`) downloads and verifies the new binary, stages it as
//! `staged` and writes `request.json` last; a systemd path unit sees the request and starts
//! the helper (`apply`), which keeps the running binary as `previous`, swaps the staged one
//! in, restarts the service and waits for `health.json` to name the new version. If it does
//! not within `[update] health_timeout_s`, the helper puts `previous` back and restarts
//! again. Either way it writes `outcome.json`; the daemon that runs afterwards answers the
//! command (which the broker delivers again, since it was never acknowledged) from it: one
//! reply and one final `gateway:update` event.

pub mod apply;
mod files;
mod health;

use std::sync::OnceLock;

use base64::Engine;
use ring::signature::{ED25519, UnparsedPublicKey};

pub use files::{Outcome, Request, UpdateFiles, UpdateFilesError, read_json, remove, write_json};
pub use health::{Health, report_when_healthy};

/// The running binary's version; the binary sets it at start (`set_version`), so a build
/// with a version suffix reports that suffix.
static VERSION: OnceLock<String> = OnceLock::new();

/// Sets the version this process reports as healthy; the first call wins.
pub fn set_version(version: impl Into<String>) {
    let _ = VERSION.set(version.into());
}

/// The version this process reports: the binary's, or the library's own.
pub fn version() -> &'static str {
    VERSION
        .get()
        .map_or(env!("CARGO_PKG_VERSION"), String::as_str)
}

/// Why a release signature does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no [update] public_key is configured: updates are refused")]
    NoKey,
    #[error("sha256 is not 64 hex digits")]
    BadSha256,
    #[error("signature is not base64: {0}")]
    NotBase64(String),
    #[error("signature does not verify with the configured release key")]
    Invalid,
}

/// Checks `signature` (base64 Ed25519 over the 32 raw SHA-256 bytes) against `public_key`.
pub fn verify_signature(
    public_key: Option<&[u8; 32]>,
    sha256_hex: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    let key = public_key.ok_or(SignatureError::NoKey)?;
    let digest = hex::decode(sha256_hex)
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::BadSha256)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|e| SignatureError::NotBase64(e.to_string()))?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(&digest, &signature)
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn keypair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn a_signature_over_the_digest_verifies_and_any_other_does_not() {
        let pair = keypair();
        let key: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        let sha = "ab".repeat(32);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let good = b64(pair.sign(&hex::decode(&sha).unwrap()).as_ref());
        assert_eq!(verify_signature(Some(&key), &sha, &good), Ok(()));
        let other = "cd".repeat(32);
        assert_eq!(
            verify_signature(Some(&key), &other, &good),
            Err(SignatureError::Invalid)
        );
        let stranger: [u8; 32] = keypair().public_key().as_ref().try_into().unwrap();
        assert_eq!(
            verify_signature(Some(&stranger), &sha, &good),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(None, &sha, &good),
            Err(SignatureError::NoKey)
        );
        assert_eq!(
            verify_signature(Some(&key), "zz", &good),
            Err(SignatureError::BadSha256)
        );
    }
}
