//! The Bambu printer's peers for the `bambu` tests, all real but the firmware: mosquitto as
//! the printer's broker (TLS with a per-test CA standing in for Bambu's, a server
//! certificate whose CN is the printer's serial and no other name, user `bblp` with the
//! access code in a password file) and vsftpd as its implicit-FTPS server (PASV, TLS on
//! the data channel with `require_ssl_reuse`, as the printers demand). Each test is one
//! printer, so each gets its own pair (a serial, a certificate, a file folder); both start
//! in milliseconds.
//!
//! The firmware is [`Firmware`]: an MQTT client on the broker's second, local listener (on
//! a printer the firmware sits next to its broker) that answers the requests as
//! OpenBambuAPI's mqtt.md describes, prints the file vsftpd received, and reports like an
//! X1 (whole state every time) or a P1 (only what changed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair};

use super::PATIENCE;
use super::mosquitto::{is_root, mosquitto_binary};
use super::pki::new_ca;

mod firmware;

#[allow(
    unused_imports,
    reason = "benches that share the harness without the Bambu peer"
)]
pub use firmware::{Firmware, Fw, Reports};

/// The PAM service vsftpd logs `bblp` in with (any password: the access code itself is
/// checked by the broker, which the driver connects to first).
const PAM_SERVICE: &str = "fluxprint-bambu-test";
pub const ACCESS_CODE: &str = "12345678";
/// `print_error` of a cancelled print.
pub const CANCELLED: u64 = 0x0300_400C;

/// `N` distinct free ports on 127.0.0.1 (all bound at once, so none is picked twice).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// One printer's broker and file server, and the files of its PKI.
pub struct Printer {
    pub serial: String,
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub stranger_ca: PathBuf,
    pub mqtt_port: u16,
    /// The broker's plain listener for the firmware.
    pub local_port: u16,
    pub ftps_port: u16,
    /// vsftpd's root: the printer's storage.
    pub files: PathBuf,
    broker: Option<Child>,
    ftps: Option<Child>,
}

impl Printer {
    pub fn start(dir: &Path, serial: &str) -> Printer {
        let dir = dir.join("printer");
        let files = dir.join("sdcard");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        // vsftpd's guest user writes the uploads.
        set_mode(&files, 0o777);
        set_mode(&dir, 0o755);
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (ca, ca_cert) = new_ca("BBL CA (test)");
        let (_, stranger) = new_ca("stranger CA");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, serial);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        write("printer.pem", cert.pem());
        write("printer.key", key.serialize_pem());
        let [mqtt_port, local_port, ftps_port] = free_ports();
        let mut printer = Printer {
            serial: serial.to_owned(),
            ca: write("ca.pem", ca_cert.pem()),
            stranger_ca: write("stranger-ca.pem", stranger.pem()),
            mqtt_port,
            local_port,
            ftps_port,
            files,
            dir,
            broker: None,
            ftps: None,
        };
        printer.write_broker_config();
        printer.write_ftps_config();
        printer.start_broker();
        printer.start_ftps();
        printer
    }

    fn write_broker_config(&self) {
        let passwords = self.dir.join("passwords");
        std::fs::write(&passwords, "").unwrap();
        let made = Command::new("mosquitto_passwd")
            .args(["-b"])
            .arg(&passwords)
            .args(["bblp", ACCESS_CODE])
            .status()
            .expect("mosquitto_passwd (apt-get install -y mosquitto)");
        assert!(made.success());
        let user_root = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user_root}per_listener_settings false\nallow_anonymous false\n\
             password_file {passwords}\npersistence false\nlog_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             listener {tls} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             listener {local} 127.0.0.1\n",
            passwords = passwords.display(),
            tls = self.mqtt_port,
            local = self.local_port,
            ca = self.ca.display(),
            cert = self.dir.join("printer.pem").display(),
            key = self.dir.join("printer.key").display(),
        );
        std::fs::write(self.dir.join("mosquitto.conf"), conf).unwrap();
    }

    fn write_ftps_config(&self) {
        ensure_pam_service();
        let conf = format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nguest_enable=YES\nguest_username=ftp\n\
             virtual_use_local_privs=YES\nwrite_enable=YES\nlocal_umask=022\n\
             chroot_local_user=YES\nallow_writeable_chroot=YES\nlocal_root={files}\n\
             pam_service_name={PAM_SERVICE}\nssl_enable=YES\nimplicit_ssl=YES\n\
             allow_anon_ssl=NO\nforce_local_logins_ssl=YES\nforce_local_data_ssl=YES\n\
             require_ssl_reuse=YES\nssl_ciphers=HIGH\nrsa_cert_file={cert}\n\
             rsa_private_key_file={key}\npasv_enable=YES\npasv_address=127.0.0.1\n\
             seccomp_sandbox=NO\nsecure_chroot_dir={empty}\nxferlog_enable=YES\n\
             vsftpd_log_file={log}\nlog_ftp_protocol=YES\n",
            port = self.ftps_port,
            files = self.files.display(),
            cert = self.dir.join("printer.pem").display(),
            key = self.dir.join("printer.key").display(),
            empty = self.dir.join("empty").display(),
            log = self.dir.join("vsftpd.log").display(),
        );
        std::fs::write(self.dir.join("vsftpd.conf"), conf).unwrap();
    }

    /// Starts mosquitto and waits for its "running" line.
    pub fn start_broker(&mut self) {
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut announced = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !announced && line.contains("running") {
                    announced = true;
                    let _ = tx.send(());
                }
                if std::env::var_os("MOSQUITTO_LOG").is_some() {
                    eprintln!("printer broker: {line}");
                }
            }
        });
        rx.recv_timeout(PATIENCE)
            .expect("mosquitto did not start; run it by hand with the config in the test dir");
        self.broker = Some(child);
    }

    pub fn stop_broker(&mut self) {
        if let Some(mut child) = self.broker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn start_ftps(&mut self) {
        let child = Command::new(vsftpd_binary())
            .arg(self.dir.join("vsftpd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vsftpd");
        self.ftps = Some(child);
        // vsftpd says nothing when it listens: it is ready when it accepts a connection.
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.ftps_port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "vsftpd does not listen; run `vsftpd {}` by hand",
                self.dir.join("vsftpd.conf").display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// vsftpd's protocol log (each command and reply).
    pub fn ftps_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vsftpd.log")).unwrap_or_default()
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        for child in [self.broker.take(), self.ftps.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn vsftpd_binary() -> PathBuf {
    ["/usr/sbin/vsftpd", "/usr/local/sbin/vsftpd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("vsftpd is not installed: `apt-get install -y vsftpd` (scripts/test does it)")
}

/// vsftpd's PAM service for the tests: `bblp` is a virtual user (vsftpd's guest `ftp`).
fn ensure_pam_service() {
    let path = Path::new("/etc/pam.d").join(PAM_SERVICE);
    if path.is_file() {
        return;
    }
    assert!(
        is_root(),
        "{} is missing: as root, write \"auth required pam_permit.so\\naccount required \
         pam_permit.so\" there (scripts/test does it)",
        path.display()
    );
    std::fs::write(
        &path,
        "# vsftpd for FluxPrint's Bambu tests\nauth required pam_permit.so\naccount required pam_permit.so\n",
    )
    .unwrap();
}
