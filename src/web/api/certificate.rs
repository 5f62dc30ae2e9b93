//! The cloud link certificate's validity as the page shows it (issue #16: an expired or
//! expiring certificate is said loudly long before it bites). Read from the certificate file
//! each time, like `/metrics` does, so a renewal shows at once.

use std::path::PathBuf;

use serde::Serialize;

use crate::cloud::enroll::{Issued, issued_file};
use crate::cloud::renew::due_at;

/// How long before expiry the page warns even when renewal is configured later than that.
const WARN_BEFORE_EXPIRY_S: i64 = 7 * 24 * 3600;

/// Where the link certificate is and when the gateway renews it.
#[derive(Clone, Debug)]
pub struct CloudCertificate {
    pub file: PathBuf,
    /// `cloud.renew_at_percent`.
    pub renew_at_percent: u8,
}

/// `cloud_certificate` in `GET /api/status` and the WebSocket snapshot.
#[derive(Debug, Serialize)]
pub struct CertificateJson {
    /// Unix seconds.
    not_before: i64,
    not_after: i64,
    /// From when the page warns: the renewal point or 7 days before expiry, whichever is
    /// earlier. A certificate still installed past it has not been renewed.
    warn_from: i64,
    expired: bool,
    /// Past `warn_from` but not yet expired.
    expiring: bool,
}

impl CloudCertificate {
    /// The certificate's validity now; `None` when the file cannot be read (logged).
    pub fn read(&self) -> Option<CertificateJson> {
        match issued_file(&self.file) {
            Ok(issued) => Some(self.shown(&issued, unix_now())),
            Err(e) => {
                tracing::warn!(error = %e, "status: reading the cloud certificate");
                None
            }
        }
    }

    fn shown(&self, issued: &Issued, now: i64) -> CertificateJson {
        let warn_from =
            due_at(issued, self.renew_at_percent).min(issued.not_after - WARN_BEFORE_EXPIRY_S);
        let expired = now >= issued.not_after;
        CertificateJson {
            not_before: issued.not_before,
            not_after: issued.not_after,
            warn_from,
            expired,
            expiring: !expired && now >= warn_from,
        }
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    fn shown(percent: u8, now: i64) -> CertificateJson {
        let issued = Issued {
            common_name: "gw".into(),
            not_before: 0,
            not_after: 90 * DAY,
        };
        let cert = CloudCertificate {
            file: PathBuf::new(),
            renew_at_percent: percent,
        };
        cert.shown(&issued, now)
    }

    #[test]
    fn warns_from_the_renewal_point_or_a_week_before_expiry() {
        assert!(!shown(50, 44 * DAY).expiring);
        assert!(shown(50, 45 * DAY).expiring);
        // Renewal set later than a week before expiry: the week wins.
        assert_eq!(shown(99, 0).warn_from, 83 * DAY);
        assert!(shown(99, 84 * DAY).expiring);
        let expired = shown(50, 90 * DAY);
        assert!(expired.expired && !expired.expiring);
    }
}
