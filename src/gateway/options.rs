//! A job's print options (`domain::PrintOptions`) against its file and printer, at intake:
//! options are for a sliced Bambu project only (plain G-code starts with `gcode_file`, which
//! takes none, and a model is sliced to G-code), for a Bambu printer only (a job naming
//! another printer with options is refused rather than printed without them), and a chosen
//! plate must be one of the project's. A LAN upload refused here stores nothing; a cloud job
//! whose download fails the check fails with the reason (its args were checked at submit).

use std::path::Path;

use super::{CommandError, Gateway};
use crate::domain::{PrintOptions, PrinterId};
use crate::files::FileKind;
use crate::gcode::project::{self, ProjectError};

impl Gateway {
    /// Whether `options` can apply to a file of `kind` at `path` on `printer` (`None`: any).
    pub(super) async fn check_options(
        &self,
        options: Option<&PrintOptions>,
        kind: FileKind,
        path: &Path,
        printer: Option<&PrinterId>,
    ) -> Result<(), CommandError> {
        let Some(options) = options else {
            return Ok(());
        };
        options.check().map_err(|e| bad(e.to_string()))?;
        if kind != FileKind::SlicedProject {
            return Err(bad(format!(
                "print options (plate, use_ams, ams_mapping, timelapse, bed_levelling) apply \
                 to a sliced Bambu project (.gcode.3mf) only, and this file is {}",
                kind.description()
            )));
        }
        self.options_fit_printer(Some(options), printer)?;
        let Some(wanted) = options.plate else {
            return Ok(());
        };
        let owned = path.to_owned();
        let plates = tokio::task::spawn_blocking(move || project::plate_numbers(&owned))
            .await
            .map_err(|e| bad(e.to_string()))?
            .map_err(|e| bad(format!("the project's plates cannot be read: {e}")))?;
        if plates.contains(&wanted) {
            return Ok(());
        }
        let has = plates;
        Err(bad(ProjectError::NoSuchPlate { wanted, has }.to_string()))
    }
}

impl Gateway {
    /// Whether a job with `options` may name `printer`: a Bambu printer only (also checked
    /// when a cloud job is submitted, before its file is in).
    pub(super) fn options_fit_printer(
        &self,
        options: Option<&PrintOptions>,
        printer: Option<&PrinterId>,
    ) -> Result<(), CommandError> {
        match (options, printer) {
            (Some(_), Some(id)) if !(self.printer(id)?).prints_projects() => Err(bad(format!(
                "printer {id} is not a Bambu printer: print options apply to Bambu printers only"
            ))),
            _ => Ok(()),
        }
    }
}

fn bad(reason: String) -> CommandError {
    CommandError::BadOptions(reason)
}
