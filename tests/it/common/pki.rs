//! The per-run PKI for the cloud link tests (rcgen): a CA, the broker's certificate for
//! 127.0.0.1/localhost, client certificates for the gateway (`gw-test`) and the test's
//! "cloud" (`cloud`), and a stranger CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::mosquitto::GATEWAY;

/// Files of the per-run PKI.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub stranger_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        Pki::with_clients(dir, &[])
    }

    /// Like `new`, with client certificates for `more` CNs besides the gateway's and the cloud's.
    pub fn with_clients(dir: &Path, more: &[&str]) -> Pki {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let (ca, ca_cert) = new_ca("fleet CA");
        // The fleet tests' provisioning backend signs CSRs with it (`Pki::issuer`).
        write("ca.key", ca.key().serialize_pem());
        let (_, stranger) = new_ca("stranger CA");
        let clients = [GATEWAY, "cloud"].into_iter().chain(more.iter().copied());
        let leaves = [("broker", vec!["127.0.0.1", "localhost"])]
            .into_iter()
            .chain(clients.map(|cn| (cn, vec![])));
        for (cn, names) in leaves {
            let (cert, key) = leaf(&ca, cn, &names);
            write(&format!("{cn}.pem"), cert.pem());
            write(&format!("{cn}.key"), key.serialize_pem());
        }
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            stranger_ca: write("stranger-ca.pem", stranger.pem()),
            server_cert: dir.join("broker.pem"),
            server_key: dir.join("broker.key"),
            dir,
        }
    }

    /// The files `new` wrote under `dir` (for a child process of the test).
    pub fn at(dir: &Path) -> Pki {
        let dir = dir.join("pki");
        Pki {
            ca: dir.join("ca.pem"),
            stranger_ca: dir.join("stranger-ca.pem"),
            server_cert: dir.join("broker.pem"),
            server_key: dir.join("broker.key"),
            dir,
        }
    }

    pub fn cert(&self, cn: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{cn}.pem")),
            self.dir.join(format!("{cn}.key")),
        )
    }

    /// The fleet CA as an issuer (its key is in the per-run directory).
    pub fn issuer(&self) -> Issuer<'static, KeyPair> {
        let key =
            KeyPair::from_pem(&std::fs::read_to_string(self.dir.join("ca.key")).unwrap()).unwrap();
        Issuer::from_ca_cert_pem(&std::fs::read_to_string(&self.ca).unwrap(), key).unwrap()
    }

    /// A client certificate for `cn` signed by the fleet CA, written as `{cn}.pem`/`.key`.
    pub fn issue(&self, cn: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = leaf(&self.issuer(), cn, &[]);
        let paths = self.cert(cn);
        std::fs::write(&paths.0, cert.pem()).unwrap();
        std::fs::write(&paths.1, key.serialize_pem()).unwrap();
        paths
    }

    /// rustls client settings trusting the fleet CA and presenting `cn`'s certificate.
    pub fn client_tls(&self, cn: &str) -> Arc<rustls::ClientConfig> {
        let (cert, key) = self.cert(cn);
        fluxprint_gateway::cloud::tls::client_config(&self.ca, &cert, &key).unwrap()
    }
}

/// A self-signed CA named `name`, and the issuer that signs with it.
pub fn new_ca(name: &str) -> (Issuer<'static, KeyPair>, rcgen::Certificate) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert)
}

pub fn leaf(
    ca: &Issuer<'static, KeyPair>,
    cn: &str,
    names: &[&str],
) -> (rcgen::Certificate, KeyPair) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert, key)
}
