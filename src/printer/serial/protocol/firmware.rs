//! `M115` replies: the `FIRMWARE_NAME:` line and the `Cap:NAME:0|1` capability lines.
//!
//! The info line is a run of `KEY:value` pairs where values may contain spaces
//! (`FIRMWARE_NAME:Marlin 2.1.2.1 (Feb 22 2024 12:00:00) SOURCE_CODE_URL:github.com/…`);
//! a new pair starts at a space followed by an upper-case `KEY:`.

/// What `M115` says about the firmware. Unknown keys are kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirmwareInfo {
    pub name: String,
    pub version: Option<String>,
    pub source_url: Option<String>,
    pub protocol_version: Option<String>,
    pub machine_type: Option<String>,
    pub extruder_count: Option<u8>,
    pub uuid: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl FirmwareInfo {
    /// Parses a line starting with `FIRMWARE_NAME:` (or Klipper's `FIRMWARE_VERSION:` first).
    pub fn parse(line: &str) -> Option<FirmwareInfo> {
        let pairs = split_pairs(line);
        let mut info = FirmwareInfo::default();
        let mut named = false;
        for (key, value) in pairs {
            let value = value.trim().to_owned();
            match key {
                "FIRMWARE_NAME" => {
                    info.name = value;
                    named = true;
                }
                "FIRMWARE_VERSION" => info.version = Some(value),
                "SOURCE_CODE_URL" | "FIRMWARE_URL" => info.source_url = Some(value),
                "PROTOCOL_VERSION" => info.protocol_version = Some(value),
                "MACHINE_TYPE" => info.machine_type = Some(value),
                "EXTRUDER_COUNT" => info.extruder_count = value.parse().ok(),
                "UUID" => info.uuid = Some(value),
                other => info.extra.push((other.to_owned(), value)),
            }
        }
        named.then_some(info)
    }
}

/// Parses `Cap:AUTOREPORT_TEMP:1` into `("AUTOREPORT_TEMP", true)`.
pub fn parse_capability(line: &str) -> Option<(String, bool)> {
    let rest = line.strip_prefix("Cap:")?;
    let (name, value) = rest.rsplit_once(':')?;
    let enabled = match value.trim() {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| (name.to_owned(), enabled))
}

fn split_pairs(line: &str) -> Vec<(&str, &str)> {
    let starts: Vec<usize> = line
        .char_indices()
        .filter(|&(at, _)| at == 0 || line.as_bytes()[at - 1] == b' ')
        .map(|(at, _)| at)
        .filter(|&at| key_at(&line[at..]).is_some())
        .collect();
    let mut pairs = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(line.len());
        let chunk = &line[start..end];
        if let Some(key) = key_at(chunk) {
            pairs.push((key, &chunk[key.len() + 1..]));
        }
    }
    pairs
}

/// An upper-case key (`[A-Z][A-Z0-9_]+`) directly followed by `:`.
fn key_at(text: &str) -> Option<&str> {
    let end = text.find(':')?;
    let key = &text[..end];
    let mut bytes = key.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_uppercase());
    let rest_ok = bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    (key.len() >= 2 && first_ok && rest_ok).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marlin_info_line_keeps_spaces_inside_values() {
        let info = FirmwareInfo::parse(
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Feb 22 2024 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
        )
        .unwrap();
        assert_eq!(info.name, "Marlin 2.1.2.1 (Feb 22 2024 12:00:00)");
        assert_eq!(
            info.source_url.as_deref(),
            Some("github.com/MarlinFirmware/Marlin")
        );
        assert_eq!(info.protocol_version.as_deref(), Some("1.0"));
        assert_eq!(info.machine_type.as_deref(), Some("Ender-3 V2"));
        assert_eq!(info.extruder_count, Some(1));
        assert_eq!(
            info.uuid.as_deref(),
            Some("cede2a2f-41a2-4748-9b12-c55c62f367ff")
        );
    }

    #[test]
    fn prusa_and_klipper_info_lines_are_understood() {
        let prusa = FirmwareInfo::parse(
            "FIRMWARE_NAME:Prusa-Firmware 3.13.2 based on Marlin FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1 UUID:00000000-0000-0000-0000-000000000000",
        )
        .unwrap();
        assert_eq!(prusa.name, "Prusa-Firmware 3.13.2 based on Marlin");
        assert_eq!(
            prusa.source_url.as_deref(),
            Some("https://github.com/prusa3d/Prusa-Firmware")
        );
        assert_eq!(prusa.machine_type.as_deref(), Some("Prusa i3 MK3S"));
        let klipper =
            FirmwareInfo::parse("FIRMWARE_VERSION:v0.12.0-85 FIRMWARE_NAME:Klipper").unwrap();
        assert_eq!(klipper.name, "Klipper");
        assert_eq!(klipper.version.as_deref(), Some("v0.12.0-85"));
    }

    #[test]
    fn a_line_without_firmware_name_is_not_info() {
        assert_eq!(FirmwareInfo::parse("PROTOCOL_VERSION:1.0"), None);
        assert_eq!(FirmwareInfo::parse("hello"), None);
    }

    #[test]
    fn capability_lines_carry_name_and_flag() {
        assert_eq!(
            parse_capability("Cap:AUTOREPORT_TEMP:1"),
            Some(("AUTOREPORT_TEMP".into(), true))
        );
        assert_eq!(
            parse_capability("Cap:EEPROM:0"),
            Some(("EEPROM".into(), false))
        );
        assert_eq!(parse_capability("Cap:EEPROM:yes"), None);
        assert_eq!(parse_capability("Cap::1"), None);
    }
}
