//! Who the gateway is on the cloud link: its own key and certificate, and the batch claim
//! certificate that may only ask for them (issue #16, enrollment by claim).
//!
//! `[cloud] cert_file`/`key_file` name the gateway's identity when an operator made it by
//! hand. Left out (both), the identity is the enrolled one in `<state_dir>/cloud/`, which
//! `fluxprint-gateway enroll` — or the first start, given `claim_cert_file`/`claim_key_file`
//! — writes. A gateway with neither is reported here, not at the first connect.

use std::path::{Path, PathBuf};

use super::Problem;
use super::raw::RawCloud;
use super::validate::{Problems, readable};

/// Under the state directory: the enrolled identity.
pub const IDENTITY_DIR: &str = "cloud";
/// The enrolled certificate (PEM, leaf first), written last: its presence means enrolled.
pub const IDENTITY_CERT: &str = "gateway.pem";
/// The enrolled private key (PEM PKCS#8, mode 0600), made on this machine.
pub const IDENTITY_KEY: &str = "gateway.key";

/// The batch claim certificate and its key (`[cloud] claim_cert_file`/`claim_key_file`, or
/// the `enroll` command line).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The enrolled certificate and key paths under `state_dir`.
pub fn identity_files(state_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = state_dir.join(IDENTITY_DIR);
    (dir.join(IDENTITY_CERT), dir.join(IDENTITY_KEY))
}

/// The gateway's certificate and key files, and the claim to enroll with when they are the
/// enrolled ones and do not exist yet.
pub(crate) struct Identity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub claim: Option<ClaimFiles>,
}

pub(crate) fn identity(
    raw: &RawCloud,
    state_dir: Option<&Path>,
    problems: &mut Problems,
) -> Option<Identity> {
    let claim = claim(raw, problems)?;
    match (&raw.cert_file, &raw.key_file) {
        (Some(cert), Some(key)) => {
            let cert = problems.check("cloud.cert_file", readable(cert.clone()));
            let key = problems.check("cloud.key_file", readable(key.clone()));
            Some(Identity {
                cert_file: cert?,
                key_file: key?,
                claim,
            })
        }
        (Some(set), None) | (None, Some(set)) => {
            let (set_key, missing) = if raw.cert_file.is_some() {
                ("cloud.cert_file", "cloud.key_file")
            } else {
                ("cloud.key_file", "cloud.cert_file")
            };
            problems.check(set_key, readable(set.clone()));
            problems.add(missing, Problem::HalfIdentity { other: set_key });
            None
        }
        (None, None) => {
            let (cert_file, key_file) = identity_files(state_dir?);
            if claim.is_none() && !cert_file.is_file() {
                problems.add("cloud.cert_file", Problem::NotEnrolled { path: cert_file });
                return None;
            }
            Some(Identity {
                cert_file,
                key_file,
                claim,
            })
        }
    }
}

fn claim(raw: &RawCloud, problems: &mut Problems) -> Option<Option<ClaimFiles>> {
    let cert = raw
        .claim_cert_file
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    let key = raw
        .claim_key_file
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    match (cert, key) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => {
            let cert = problems.check("cloud.claim_cert_file", readable(cert));
            let key = problems.check("cloud.claim_key_file", readable(key));
            Some(Some(ClaimFiles {
                cert_file: cert?,
                key_file: key?,
            }))
        }
        (cert, _) => {
            let (set_key, missing) = if cert.is_some() {
                ("cloud.claim_cert_file", "cloud.claim_key_file")
            } else {
                ("cloud.claim_key_file", "cloud.claim_cert_file")
            };
            problems.add(missing, Problem::HalfIdentity { other: set_key });
            None
        }
    }
}
