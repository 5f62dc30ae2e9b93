//! `cert.renew` and `cert.install` (issue #16): the cloud makes the gateway ask for a renewed
//! certificate now, and hands over the certificate it signed for the gateway's new key
//! (`renew` checks it and switches the link to it). A refused certificate changes nothing:
//! the reply says why and the link keeps its identity.

use serde::Deserialize;
use serde_json::json;

use super::Outcome;
use crate::cloud::commands::Executor;

/// `cert.install` args.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallArgs {
    /// PEM, leaf first.
    pub certificate: String,
}

pub(super) async fn renew(executor: &Executor) -> Outcome {
    executor.renewal.begin("cert.renew").await?;
    Ok(json!({ "requested": true }))
}

pub(super) async fn install(args: InstallArgs, executor: &Executor) -> Outcome {
    let issued = executor.renewal.install(&args.certificate).await?;
    Ok(json!({
        "common_name": issued.common_name,
        "not_before": issued.not_before,
        "not_after": issued.not_after,
    }))
}
