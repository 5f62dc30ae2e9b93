//! Job routes: the paginated list (newest first, cursor `before`), one job, the upload that
//! queues a job, and the controls (cancel, pause, resume, move) — each a `Gateway` call, the
//! same the cloud link makes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{options, upload};
use crate::domain::{JobId, JobStatus, PrintOptions, PrinterId};
use crate::gateway::{Gateway, QueueRequest};
use crate::jobs::{Job, JobFilter, JobSource};
use crate::web::WebState;
use crate::wire::JobJson;

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

type Shared = State<Arc<WebState>>;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    before: Option<i64>,
    status: Option<String>,
    printer: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JobPage {
    jobs: Vec<JobJson>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    next_before: Option<i64>,
}

fn filter(query: ListQuery) -> Result<JobFilter, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    if let Some(status) = query
        .status
        .as_deref()
        .filter(|s| !JobStatus::NAMES.contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown status {status:?}; one of {}",
            JobStatus::NAMES.join(", ")
        )));
    }
    Ok(JobFilter {
        status: query.status,
        printer: query.printer.map(PrinterId),
        before: query.before.map(JobId),
        limit,
    })
}

pub async fn list(
    State(state): Shared,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut filter = filter(query)?;
    let limit = filter.limit as usize;
    // One more than asked tells whether an older page exists.
    filter.limit += 1;
    let mut jobs = state.gateway.jobs(filter).await?;
    let more = jobs.len() > limit;
    jobs.truncate(limit);
    let next_before = more.then(|| jobs.last().map(|j| j.id.0)).flatten();
    Ok(Json(JobPage {
        jobs: jobs.iter().map(|j| shown(&state.gateway, j)).collect(),
        next_before,
    }))
}

/// A job as the API shows it: with the estimate corrected for its printer.
pub fn shown(gateway: &Gateway, job: &Job) -> JobJson {
    let accuracy = job.printer.as_ref().and_then(|p| gateway.accuracy(p));
    JobJson::from(job).corrected(accuracy.as_ref())
}

pub(super) fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.trim_start_matches('#')
        .parse()
        .map(JobId)
        .map_err(|_| ApiError::BadRequest(format!("job id must be a number, not {raw:?}")))
}

/// One job as `GET /api/jobs/{id}` and the upload show it: with its print options.
#[derive(Debug, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    job: JobJson,
    /// `null` when the submitter gave none.
    options: Option<PrintOptions>,
}

fn detail(gateway: &Gateway, job: &Job) -> JobDetail {
    JobDetail {
        job: shown(gateway, job),
        options: job.options.clone(),
    }
}

pub async fn get(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    let job = state.gateway.job(job_id(&id)?).await?;
    Ok(Json(detail(&state.gateway, &job)))
}

/// `POST /api/jobs`: multipart `file` plus optional `material`, `quality`, `printer` and the
/// print options of a Bambu project (`options`).
pub async fn submit(
    State(state): Shared,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<JobDetail>), ApiError> {
    let analyse = upload::Analyse::along(&headers);
    let upload =
        upload::receive(multipart, &state.files_dir, state.max_upload_bytes, analyse).await?;
    upload.count_analysis(&state.metrics);
    let queue = QueueRequest {
        printer: upload.field("printer").map(PrinterId),
        material: upload.field("material"),
        quality: upload.field("quality"),
        options: options::from_fields(&upload)?,
        source: JobSource::Lan,
    };
    let (_, job) = state.gateway.queue_file(upload.file, queue).await?;
    Ok((StatusCode::CREATED, Json(detail(&state.gateway, &job))))
}

pub async fn cancel(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<JobJson>, ApiError> {
    let job = state.gateway.cancel(job_id(&id)?).await?;
    Ok(Json(JobJson::from(&job)))
}

pub async fn pause(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<JobJson>, ApiError> {
    let job = state.gateway.pause(job_id(&id)?).await?;
    Ok(Json(JobJson::from(&job)))
}

pub async fn resume(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<JobJson>, ApiError> {
    let job = state.gateway.resume(job_id(&id)?).await?;
    Ok(Json(JobJson::from(&job)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    position: serde_json::Number,
}

/// The queue index a JSON number names: any whole number from 0 to `u64::MAX`, also when
/// written with a fraction of zero (`2.0` is the integer 2 to JSON Schema, and so to the API
/// document). An index past the end means last, so one beyond `usize` on a 32-bit Pi is last too.
fn queue_index(position: &serde_json::Number) -> Option<usize> {
    let index = position.as_u64().or_else(|| {
        let n = position.as_f64()?;
        // 2^64 is the first f64 beyond u64::MAX.
        (n.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&n)).then_some(n as u64)
    })?;
    Some(usize::try_from(index).unwrap_or(usize::MAX))
}

#[derive(Debug, Serialize)]
pub struct Order {
    order: Vec<i64>,
}

/// `POST /api/jobs/{id}/move` with `{"position": n}` (0 = next in its queue). The body is
/// read as JSON whatever its content type says, so a plain `curl -d` works too.
pub async fn move_job(
    State(state): Shared,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Order>, ApiError> {
    let id = job_id(&id)?;
    let expected = |e: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!("expected {{\"position\": <0-based index>}}: {e}"))
    };
    let MoveBody { position } = serde_json::from_slice(&body).map_err(|e| expected(&e))?;
    let index = queue_index(&position)
        .ok_or_else(|| expected(&format_args!("{position} is not a whole number from 0")))?;
    let order = state.gateway.move_job(id, index).await?;
    Ok(Json(Order {
        order: order.into_iter().map(|j| j.0).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(json: &str) -> Option<usize> {
        queue_index(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_position_is_any_whole_number_from_zero_also_with_a_zero_fraction() {
        assert_eq!(index("0"), Some(0));
        assert_eq!(index("3"), Some(3));
        assert_eq!(index("983.0"), Some(983));
        assert_eq!(index("-0.0"), Some(0));
        let clamped = |n: u64| Some(usize::try_from(n).unwrap_or(usize::MAX));
        assert_eq!(index("18446744073709551615"), clamped(u64::MAX));
        assert_eq!(index("1e19"), clamped(10_000_000_000_000_000_000));
        for refused in ["-1", "1.5", "18446744073709551616", "1e20"] {
            assert_eq!(index(refused), None, "{refused}");
        }
    }
}
