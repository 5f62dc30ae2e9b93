//! Print files before they print: G-code analysis (time from a Marlin-like motion planner,
//! filament, mass and cost, layers, extents), the slicer's own figures and thumbnails, the
//! remaining time while printing, STL meshes, materials and the quick estimate a job gets.
//!
//! The G-code analysis streams the file once in fixed-size chunks with bounded state, so its
//! memory is flat whatever the file's size. It is plain blocking code: run it with
//! [`spawn_analysis`] on its own thread, never on the serial streaming thread. Lowering that
//! thread's priority needs `setpriority`, which std does not offer; the gateway's systemd unit
//! sets the whole daemon's niceness instead.

pub mod along;
mod analysis;
mod arc;
pub mod estimate;
pub mod intel;
mod kinematics;
mod limits;
pub mod line;
mod machine;
pub mod materials;
mod metadata;
mod motion;
mod planner;
mod progress;
pub mod project;
pub mod prologue;
mod reader;
pub mod resume;
pub mod stl;
mod tally;
mod thumbnails;

pub use analysis::{
    Analysis, AnalysisError, BadLine, DoesNotFit, LinesRead, analyse, analyse_file, analyse_lines,
    spawn_analysis,
};
pub use arc::ArcError;
pub use intel::{
    FileIntel, analyse_in_background, analyse_project_in_background, intel_in_background,
};
pub use limits::MachineLimits;
pub use materials::{Material, Materials, MaterialsError};
pub use metadata::{SlicerMetadata, parse_duration};
pub use progress::ProgressTable;
pub use tally::Bounds;
pub use thumbnails::{Thumbnail, ThumbnailFormat};
