//! A job's print options as `POST /api/jobs` form fields: `plate` (a whole number from 1),
//! `use_ams`, `timelapse`, `bed_levelling` (`true` or `false`) and `ams_mapping` (a JSON
//! array of whole numbers, `[0,2,-1]`). A field that does not read is refused (400); the
//! options are then checked against the file and printer by the gateway (422). No option
//! field at all means no options (the printer's defaults: first plate, no AMS, no timelapse,
//! no bed levelling).

use super::error::ApiError;
use super::upload::Upload;
use crate::domain::PrintOptions;

/// The option field names, as the cloud's `options` object names them.
pub const FIELDS: [&str; 5] = [
    "plate",
    "use_ams",
    "ams_mapping",
    "timelapse",
    "bed_levelling",
];

/// The options the upload's fields give, or `None` when it has none of them.
pub fn from_fields(upload: &Upload) -> Result<Option<PrintOptions>, ApiError> {
    if FIELDS.iter().all(|name| upload.field(name).is_none()) {
        return Ok(None);
    }
    let flag = |name: &str| flag(name, upload.field(name).as_deref());
    let options = PrintOptions {
        plate: upload.field("plate").map(|p| plate(&p)).transpose()?,
        use_ams: flag("use_ams")?,
        ams_mapping: (upload.field("ams_mapping").map(|m| mapping(&m)))
            .transpose()?
            .unwrap_or_default(),
        timelapse: flag("timelapse")?,
        bed_levelling: flag("bed_levelling")?,
    };
    options
        .check()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Some(options))
}

pub(super) fn plate(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| {
        ApiError::BadRequest(format!("plate must be a whole number from 1, not {text:?}"))
    })
}

fn flag(name: &str, text: Option<&str>) -> Result<bool, ApiError> {
    match text {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

fn mapping(text: &str) -> Result<Vec<i64>, ApiError> {
    serde_json::from_str(text).map_err(|_| {
        ApiError::BadRequest(format!(
            "ams_mapping must be a JSON array of whole numbers such as [0,2,-1], not {text:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_strictly() {
        assert_eq!(plate("2").unwrap(), 2);
        assert!(plate("two").is_err());
        assert!(plate("-1").is_err());
        assert!(flag("timelapse", Some("true")).unwrap());
        assert!(!flag("timelapse", None).unwrap());
        let refused = flag("timelapse", Some("yes")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "timelapse must be true or false, not \"yes\""
        );
        assert_eq!(mapping("[1, -1]").unwrap(), vec![1, -1]);
        assert!(mapping("1,-1").is_err());
        assert!(mapping("[1.5]").is_err());
    }
}
