//! The typed `args` of each command, with the checks the envelope cannot make: string
//! lengths, the file's URL and hash. Unknown fields are refused so a typo in the cloud is an
//! error reply, not a silently ignored option.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::commands::Failure;
use super::fetch::FileSpec;
use super::payload::Refusal;
use crate::domain::{JobId, PrintOptions};
use crate::gateway::Gateway;

/// Longest id or name field accepted.
const MAX_FIELD_CHARS: usize = 256;
/// Largest `settings` object accepted, serialised.
const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// A job as the cloud names it: its own id (a string) or the gateway's number.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum JobKey {
    Gateway(i64),
    Cloud(String),
}

impl JobKey {
    /// The gateway's id of the job this key names.
    pub async fn resolve(&self, gateway: &Gateway) -> Result<JobId, Failure> {
        match self {
            JobKey::Gateway(n) => Ok(JobId(*n)),
            JobKey::Cloud(cloud_id) => (gateway.job_by_cloud_id(cloud_id).await?)
                .ok_or_else(|| Failure::UnknownCloudJob(cloud_id.clone())),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitArgs {
    pub job_id: String,
    pub project_id: Option<String>,
    pub file: FileArgs,
    pub material: Option<String>,
    pub quality: Option<String>,
    pub settings: Option<Value>,
    pub printer: Option<String>,
    /// How a Bambu printer prints the project (`domain::PrintOptions`).
    pub options: Option<PrintOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileArgs {
    pub name: String,
    pub url: String,
    pub sha256: String,
    pub size: Option<u64>,
}

/// `estimate`: the file to estimate, with the material and quality to estimate it for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateArgs {
    pub file: FileArgs,
    /// The plate of a sliced project to estimate (default: its first).
    pub plate: Option<u32>,
    pub material: Option<String>,
    pub quality: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    pub job_id: JobKey,
}

/// `job.recover`: the interrupted job, and optionally a Z correction and another layer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverArgs {
    pub job_id: JobKey,
    pub z_offset_mm: Option<f64>,
    pub from_layer: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    pub job_id: JobKey,
    pub index: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayArgs {
    /// Resend every event with `seq >= from`.
    pub from: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckArgs {
    /// The cloud has every event up to and including this `seq`.
    pub seq: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

pub fn decode<T: DeserializeOwned>(args: &Value) -> Result<T, Refusal> {
    T::deserialize(args).map_err(Refusal::Args)
}

impl FileArgs {
    /// The URL, parsed (`SubmitArgs::check` has vetted it).
    pub fn parsed_url(&self) -> Result<url::Url, Refusal> {
        url::Url::parse(&self.url)
            .map_err(|e| Refusal::Field(format!("args.file.url is not a URL: {e}")))
    }

    /// The file to download, its URL parsed.
    pub fn spec(&self) -> Result<FileSpec, Refusal> {
        Ok(FileSpec {
            name: self.name.clone(),
            url: self.parsed_url()?,
            sha256: self.sha256.clone(),
            size: self.size,
        })
    }
}

impl SubmitArgs {
    /// The checks serde cannot make.
    pub fn check(&self) -> Result<(), Refusal> {
        let bad = |what: &str| Err(Refusal::Field(what.to_owned()));
        let short = |s: &str| !s.is_empty() && s.chars().count() <= MAX_FIELD_CHARS;
        if !short(&self.job_id) {
            return bad("args.job_id must be a string of 1 to 256 characters");
        }
        let optional = [
            &self.project_id,
            &self.material,
            &self.quality,
            &self.printer,
        ];
        if optional
            .iter()
            .any(|o| o.as_deref().is_some_and(|s| !short(s)))
        {
            return bad(
                "args.project_id, material, quality and printer must be 1 to 256 characters",
            );
        }
        if !short(&self.file.name) {
            return bad("args.file.name must be a string of 1 to 256 characters");
        }
        let hex =
            self.file.sha256.len() == 64 && self.file.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return bad("args.file.sha256 must be 64 hexadecimal digits");
        }
        if !matches!(self.file.parsed_url()?.scheme(), "https" | "http") {
            return bad("args.file.url must be an https:// URL");
        }
        let settings_size = self.settings.as_ref().map_or(0, |s| s.to_string().len());
        if settings_size > MAX_SETTINGS_BYTES {
            return bad("args.settings is larger than 16 KiB");
        }
        if self.settings.as_ref().is_some_and(|s| !s.is_object()) {
            return bad("args.settings must be an object");
        }
        self.check_options()
    }

    /// Options are checked here as far as the file's name tells; against the project's
    /// plates once it is downloaded (`gateway::options`, the job then fails with the reason).
    fn check_options(&self) -> Result<(), Refusal> {
        let Some(options) = &self.options else {
            return Ok(());
        };
        let field = |e: String| Refusal::Field(format!("args.options: {e}"));
        options.check().map_err(|e| field(e.to_string()))?;
        if !self.file.name.to_ascii_lowercase().ends_with(".3mf") {
            return Err(field(
                "print options apply to a sliced Bambu project (.gcode.3mf) only".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submit(file: Value) -> Result<SubmitArgs, Refusal> {
        let args: SubmitArgs = decode(&json!({"job_id": "c-1", "file": file}))?;
        args.check().map(|()| args)
    }

    #[test]
    fn a_submit_with_a_proper_file_is_accepted() {
        let file = json!({"name": "a.gcode", "url": "https://x.test/a", "sha256": "ab".repeat(32)});
        assert!(submit(file).is_ok());
    }

    #[test]
    fn a_submit_with_a_bad_hash_or_scheme_or_extra_field_is_refused() {
        let hash = json!({"name": "a", "url": "https://x.test/a", "sha256": "zz"});
        assert_eq!(submit(hash).unwrap_err().code(), "invalid");
        let scheme = json!({"name": "a", "url": "ftp://x.test/a", "sha256": "ab".repeat(32)});
        assert_eq!(submit(scheme).unwrap_err().code(), "invalid");
        let extra =
            json!({"name": "a", "url": "https://x.test/a", "sha256": "ab".repeat(32), "x": 1});
        assert_eq!(submit(extra).unwrap_err().code(), "invalid");
    }

    #[test]
    fn a_job_is_named_by_the_cloud_id_or_the_gateway_number() {
        let by_cloud: JobArgs = decode(&json!({"job_id": "c-1"})).unwrap();
        assert_eq!(by_cloud.job_id, JobKey::Cloud("c-1".into()));
        let by_number: JobArgs = decode(&json!({"job_id": 7})).unwrap();
        assert_eq!(by_number.job_id, JobKey::Gateway(7));
    }
}
