//! A job's file on its way to the printer: what it is (a sliced project and its plate, or
//! G-code checked against the safety caps), its upload over FTPS as a future the driver's
//! loop polls beside the MQTT connection, and its deletion after the job.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;

use super::BambuSettings;
use super::ftps::{Ftps, FtpsError, PATIENCE};
use super::request::PrintFile;
use super::track::print_name;
use crate::domain::JobId;
use crate::domain::PrintOptions;
use crate::gcode::project::{self, ProjectError};
use crate::printer::safety::{Safety, check_file};

/// Upload and delete over FTPS: a 50 MB project takes seconds on a LAN, a minute on Wi-Fi.
const FTPS_PATIENCE: Duration = Duration::from_secs(600);

/// What the driver is asked to start: the job's file and its print options.
pub struct Start {
    pub file: PathBuf,
    pub options: PrintOptions,
}

/// An upload under way: the job, its file on the printer, and the bytes sent.
pub type Upload = Pin<Box<dyn Future<Output = (JobId, PrintFile, Result<u64, FtpsError>)> + Send>>;

/// What the job's file is on the printer: a sliced project with its plate (the options'
/// plate, else its first) and options, or G-code (checked against the printer's safety caps
/// first; the intake lets no options on G-code).
pub async fn print_file(
    safety: Safety,
    job: JobId,
    file: &Path,
    options: PrintOptions,
) -> Result<PrintFile, String> {
    let stem = print_name(job);
    let is_zip = read_head(file).await.map_err(|e| e.to_string())? == *b"PK\x03\x04";
    if !is_zip {
        check_file(safety, file.to_owned())
            .await
            .map_err(|refused| refused.to_string())?;
        return Ok(PrintFile::Gcode {
            name: format!("{stem}.gcode"),
        });
    }
    // The same reading of the zip as the intake's (`files::refine`).
    let owned = file.to_owned();
    let plates = tokio::task::spawn_blocking(move || project::plate_numbers(&owned))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let plate = match options.plate {
        Some(wanted) if !plates.contains(&wanted) => {
            let has = plates;
            return Err(ProjectError::NoSuchPlate { wanted, has }.to_string());
        }
        Some(wanted) => Some(wanted),
        None => plates.first().copied(),
    };
    match plate {
        Some(plate) => Ok(PrintFile::Project {
            name: format!("{stem}.gcode.3mf"),
            plate,
            options,
        }),
        None => Err(
            "the 3MF holds no sliced plate (Metadata/plate_N.gcode): slice it for this \
             printer in Bambu Studio or OrcaSlicer and export the plate"
                .into(),
        ),
    }
}

/// Uploads `file` as `print_file`'s name, within `FTPS_PATIENCE`.
pub fn upload(
    settings: &BambuSettings,
    tls: Arc<ClientConfig>,
    job: JobId,
    file: PathBuf,
    print_file: PrintFile,
) -> Upload {
    let (host, port, code) = (
        settings.host.clone(),
        settings.ftps_port,
        settings.access_code.clone(),
    );
    let name = server_name(settings);
    Box::pin(async move {
        let sent = tokio::time::timeout(FTPS_PATIENCE, async {
            let mut ftps = Ftps::connect((&host, port), tls, name, &code, PATIENCE).await?;
            let sent = ftps.store(&file, print_file.name()).await?;
            ftps.quit().await;
            Ok(sent)
        })
        .await
        .unwrap_or_else(|_| Err(timed_out("the upload took too long")));
        (job, print_file, sent)
    })
}

/// Deletes `name` from the printer's storage; a failure is logged (the print is over
/// either way, and the file only takes space).
pub async fn delete(settings: &BambuSettings, tls: Arc<ClientConfig>, name: &str) {
    let server = server_name(settings);
    let (host, port) = (settings.host.as_str(), settings.ftps_port);
    let deleted = tokio::time::timeout(FTPS_PATIENCE, async {
        let code = &settings.access_code;
        let mut ftps = Ftps::connect((host, port), tls, server, code, PATIENCE).await?;
        ftps.delete(name).await?;
        ftps.quit().await;
        Ok(())
    })
    .await
    .unwrap_or_else(|_| Err(timed_out("the delete took too long")));
    if let Err(e) = deleted {
        tracing::warn!(printer = %settings.printer, file = name, error = %e,
            "cannot delete the job's file on the printer");
    }
}

/// The name TLS sessions are kept under: the same for the control and data connections,
/// so the data connection resumes the control connection's session.
fn server_name(settings: &BambuSettings) -> ServerName<'static> {
    ServerName::try_from(settings.serial.clone())
        .or_else(|_| ServerName::try_from(settings.host.clone()))
        .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
}

fn timed_out(what: &str) -> FtpsError {
    FtpsError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
}

async fn read_head(file: &Path) -> std::io::Result<[u8; 4]> {
    let mut head = [0u8; 4];
    let mut opened = tokio::fs::File::open(file).await?;
    let read = opened.read(&mut head).await?;
    Ok(if read == 4 { head } else { [0; 4] })
}
