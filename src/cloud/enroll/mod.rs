//! Enrollment by claim (issue #16, DESIGN "Fleet lifecycle"): a new gateway makes its own key
//! here (it never leaves the machine), asks the cloud for a certificate with a CSR over a
//! connection made with the batch's claim certificate, checks what comes back and stores it
//! in `<state_dir>/cloud/`; from then on the link uses it and never the claim.
//!
//! Every step leaves files from which the next run goes on (`files`): the key is made once,
//! the request id is remembered, and the certificate is written last, so `enroll` can be
//! run again after a crash at any point, and run again after success changes nothing. The
//! cloud must answer a repeated request id with a certificate for the same key (the test
//! backend signs again; a real one may also hold on to its answer).

mod certificate;
mod claim;
mod files;

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, DnType, KeyPair};

use crate::cloud::tls;
use crate::config::{ClaimFiles, CloudLink};

pub use certificate::{CertError, Issued, check_issued, issued, issued_file};
pub use files::{FilesError, IdentityDir, KEY_MODE, new_key, write_atomic};

/// How long `enroll` waits for the cloud's answer (and for a connect) by default.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(30);

/// Why enrollment stopped. The files written so far stay; running it again goes on.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("the claim certificate: {0}")]
    ClaimFiles(#[source] tls::TlsError),
    #[error("the claim certificate: {0}")]
    ClaimCertificate(#[source] CertError),
    #[error("the claim certificate's CN {0:?} cannot be a topic segment")]
    ClaimName(String),
    #[error("the broker refused the connection: {0}")]
    Refused(String),
    #[error("the broker cannot be reached: {0}")]
    Unreachable(String),
    #[error(
        "no answer within {waited:?} (is the provisioning service running, and does the \
         broker's ACL let the claim use fluxprint/provision/<claim CN>/#?)"
    )]
    Timeout { waited: Duration },
    #[error("the cloud refused the CSR: {code}: {message}")]
    CsrRefused { code: String, message: String },
    #[error("the cloud's answer carries no certificate")]
    NoCertificate,
    #[error("the certificate from the cloud cannot be used: {0}")]
    Certificate(#[source] CertError),
    #[error("the identity files: {0}")]
    Files(#[from] FilesError),
    #[error("making the CSR: {0}")]
    Csr(#[source] rcgen::Error),
    #[error("the new certificate: {0}")]
    OwnTls(#[source] tls::TlsError),
    #[error("cloud.url {0} names no host")]
    NoHost(url::Url),
    #[error("the MQTT client stopped")]
    Stopped,
}

/// One enrollment: who we are, where the broker is, which claim, where the files go.
pub struct Enrollment<'a> {
    pub gateway_id: &'a str,
    pub link: &'a CloudLink,
    pub claim: &'a ClaimFiles,
    pub state_dir: &'a Path,
    pub patience: Duration,
}

/// What `enroll` did.
#[derive(Debug)]
pub struct Enrolled {
    pub issued: Issued,
    /// False when the gateway was enrolled already and nothing was asked.
    pub fresh: bool,
    /// From the claim's connect to the certificate stored (zero when not `fresh`).
    pub took: Duration,
}

/// Enrolls, or finds the gateway enrolled already (a stored certificate for the stored key,
/// chaining to the CA — also when it has expired since: renewal says that loudly).
pub async fn enroll(request: &Enrollment<'_>) -> Result<Enrolled, EnrollError> {
    let dir = IdentityDir::new(request.state_dir);
    if let Some(issued) = enrolled(&dir, request) {
        return Ok(Enrolled {
            issued,
            fresh: false,
            took: Duration::ZERO,
        });
    }
    dir.prepare()?;
    let key = dir.load_or_make_key()?;
    let request_id = dir.request_id()?;
    let claim_cn = certificate::issued_file(&request.claim.cert_file)
        .map_err(EnrollError::ClaimCertificate)?
        .common_name;
    if claim_cn.is_empty() || claim_cn.contains(['/', '+', '#']) {
        return Err(EnrollError::ClaimName(claim_cn));
    }
    let link = request.link;
    let claim_tls = tls::client_config(
        &link.ca_file,
        &request.claim.cert_file,
        &request.claim.key_file,
    )
    .map_err(EnrollError::ClaimFiles)?;
    let csr = csr_pem(&key, request.gateway_id)?;
    let payload = serde_json::json!({
        "v": 1, "id": request_id, "gateway_id": request.gateway_id, "csr": csr,
    });
    let started = Instant::now();
    tracing::info!(claim = %claim_cn, request = %request_id, "enrolling with the claim certificate");
    let broker = broker(link, claim_tls, format!("enroll-{request_id}"))?;
    let topics = claim::Topics::new(&claim_cn, &request_id);
    let answer = claim::ask(
        &broker,
        &topics,
        &request_id,
        payload.to_string().into_bytes(),
        request.patience,
    )
    .await?;
    let pem = certificate_of(answer, request.gateway_id)?;
    let issued = check_issued(
        pem.as_bytes(),
        &key,
        &link.ca_file,
        request.gateway_id,
        None,
    )
    .map_err(EnrollError::Certificate)?;
    dir.finish(&pem)?;
    tracing::info!(gateway = %issued.common_name, not_after = issued.not_after, "enrolled");
    Ok(Enrolled {
        issued,
        fresh: true,
        took: started.elapsed(),
    })
}

/// The stored identity when it is complete and consistent; a half one is enrolled again.
fn enrolled(dir: &IdentityDir, request: &Enrollment<'_>) -> Option<Issued> {
    let pem = std::fs::read(&dir.cert).ok()?;
    let key = KeyPair::from_pem(&std::fs::read_to_string(&dir.key).ok()?).ok()?;
    let issued = issued(&pem).ok()?;
    // Checked at a moment it was valid: an expired certificate is still ours (renewal or an
    // operator deals with it); one for another key or CA is not.
    let at = std::time::UNIX_EPOCH + Duration::from_secs(issued.not_after.max(1) as u64 - 1);
    let at = at.min(std::time::SystemTime::now());
    match check_issued(
        &pem,
        &key,
        &request.link.ca_file,
        request.gateway_id,
        Some(at),
    ) {
        Ok(issued) => Some(issued),
        Err(e) => {
            tracing::warn!(file = %dir.cert.display(), error = %e,
                "the stored certificate cannot be used; enrolling again");
            None
        }
    }
}

/// The certificate in an answer; a cloud that assigns another id than ours is refused here
/// (`gateway.id` names topics and the client id, so it must be set to the assigned one).
fn certificate_of(answer: claim::Answer, gateway_id: &str) -> Result<String, EnrollError> {
    if !answer.ok {
        let (code, message) = answer
            .error
            .map(|e| (e.code, e.message))
            .unwrap_or_else(|| ("unknown".to_owned(), "no reason given".to_owned()));
        return Err(EnrollError::CsrRefused { code, message });
    }
    if let Some(assigned) = answer.gateway_id.filter(|id| id != gateway_id) {
        return Err(EnrollError::Certificate(CertError::WrongName {
            expected: gateway_id.to_owned(),
            found: assigned,
        }));
    }
    answer.certificate.ok_or(EnrollError::NoCertificate)
}

/// A PEM CSR for `key` with CN `gateway_id`.
pub fn csr_pem(key: &KeyPair, gateway_id: &str) -> Result<String, EnrollError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(EnrollError::Csr)?;
    params
        .distinguished_name
        .push(DnType::CommonName, gateway_id);
    params
        .serialize_request(key)
        .and_then(|csr| csr.pem())
        .map_err(EnrollError::Csr)
}

fn broker(
    link: &CloudLink,
    tls: std::sync::Arc<rustls::ClientConfig>,
    client_id: String,
) -> Result<claim::Broker, EnrollError> {
    let host = link
        .url
        .host_str()
        .ok_or_else(|| EnrollError::NoHost(link.url.clone()))?;
    Ok(claim::Broker {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: link.url.port().unwrap_or(8883),
        tls,
        client_id,
    })
}

/// Connects once with the stored identity (`link`'s files) and waits for the CONNACK: the
/// proof that the broker takes the new certificate.
pub async fn confirm(
    link: &CloudLink,
    gateway_id: &str,
    patience: Duration,
) -> Result<(), EnrollError> {
    let tls = tls::client_config(&link.ca_file, &link.cert_file, &link.key_file)
        .map_err(EnrollError::OwnTls)?;
    // Not the link's client id: a running gateway's session must not be taken over.
    let client_id = format!("{gateway_id}-confirm");
    claim::confirm(&broker(link, tls, client_id)?, patience).await
}

/// On start: enrolls when the link uses the enrolled identity, it does not exist yet and a
/// claim is configured.
pub async fn on_first_start(
    gateway_id: &str,
    link: &CloudLink,
    claim: Option<&ClaimFiles>,
    state_dir: &Path,
) -> Result<(), EnrollError> {
    let (cert, _) = crate::config::identity_files(state_dir);
    let Some(claim) = claim else { return Ok(()) };
    if link.cert_file != cert {
        return Ok(());
    }
    let enrolled = enroll(&Enrollment {
        gateway_id,
        link,
        claim,
        state_dir,
        patience: DEFAULT_PATIENCE,
    })
    .await?;
    if enrolled.fresh {
        tracing::info!(
            took_ms = enrolled.took.as_millis() as u64,
            "enrolled on first start"
        );
    }
    Ok(())
}
