//! Which printers a job's file may go to, by its kind. A sliced Bambu project
//! (`.gcode.3mf`) prints only on a printer whose driver starts projects (Bambu): one sent to
//! another printer, or to a gateway with no Bambu printer, fails at once with the reason
//! rather than wait in a queue no printer will ever take it from (the claim keeps unassigned
//! projects off other printers, `jobs::queue`). A model sent to a Bambu printer fails at
//! once unless a slicer is configured, saying how to slice it for the printer.

use super::Gateway;
use crate::domain::{PrinterId, QueuedStage};
use crate::files::FileKind;

impl Gateway {
    /// The stage a new job of `kind` for `printer` (`None`: any) starts in, or why it
    /// cannot print here (the job then fails at once, with this as its error).
    pub(super) fn placement(
        &self,
        kind: FileKind,
        printer: Option<&PrinterId>,
    ) -> Result<QueuedStage, String> {
        let stage = self.first_stage(kind).map_err(str::to_owned);
        let takes_projects =
            |id: &PrinterId| (self.printers.iter()).any(|p| p.id() == id && p.prints_projects());
        match (kind, printer) {
            (FileKind::SlicedProject, Some(id)) if !takes_projects(id) => Err(format!(
                "a sliced Bambu project (.gcode.3mf) prints only on a Bambu printer, and \
                 printer {id} is not one: send it to a Bambu printer, or send {id} G-code \
                 sliced for it"
            )),
            (FileKind::SlicedProject, None)
                if !self.printers.iter().any(|p| p.prints_projects()) =>
            {
                Err(
                    "a sliced Bambu project (.gcode.3mf) prints only on a Bambu printer, \
                     and none is configured"
                        .into(),
                )
            }
            (FileKind::Stl | FileKind::ThreeMf, Some(id))
                if takes_projects(id) && stage.is_err() =>
            {
                Err(format!(
                    "printer {id} is a Bambu printer and this gateway has no slicer for a \
                     model: slice it for {id} in Bambu Studio or OrcaSlicer and send the \
                     sliced project (.gcode.3mf)"
                ))
            }
            _ => stage,
        }
    }
}
