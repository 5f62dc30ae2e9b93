//! Serial port discovery for `fluxprint-gateway ports`: which ports exist, what is behind them.
//!
//! An operator runs this when adding a printer to the config. Ports come from
//! `serialport::available_ports()` (built without libudev, so it reads sysfs), USB ones with
//! vendor and product ids and descriptor strings. Each port is matched with its stable
//! `/dev/serial/by-id/…` name when udev made one: `/dev/ttyACM0` can become `/dev/ttyACM1`
//! after a replug, the by-id path cannot, so that is the one to put in the config.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where udev keeps stable, serial-number based names for serial devices.
const BY_ID_DIR: &str = "/dev/serial/by-id";

/// Why the ports could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    #[error("cannot enumerate serial ports")]
    Enumerate {
        #[source]
        source: serialport::Error,
    },
    #[error("cannot enumerate serial ports: {path} is missing (is sysfs mounted?)")]
    NoSysfs { path: PathBuf },
    #[error("cannot read {path}")]
    ByIdDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One serial port found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The device node, e.g. `/dev/ttyACM0`.
    pub path: PathBuf,
    pub kind: PortKind,
    /// The `/dev/serial/by-id/…` link pointing at this port, when udev made one.
    pub by_id: Option<PathBuf>,
}

/// How the port is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortKind {
    Usb(UsbDevice),
    Pci,
    Bluetooth,
    Unknown,
}

/// What a USB serial device says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    pub vid: u16,
    pub pid: u16,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

impl UsbDevice {
    /// `vid:pid` in lower-case hex, as `lsusb` prints it (`2c99:0002`).
    pub fn id(&self) -> String {
        format!("{:04x}:{:04x}", self.vid, self.pid)
    }
}

/// The serial ports on this host, sorted by path.
pub fn list() -> Result<Vec<PortInfo>, PortsError> {
    // serialport panics rather than erroring when sysfs is absent (odd containers).
    #[cfg(target_os = "linux")]
    {
        let sysfs = Path::new("/sys/class/tty");
        if !sysfs.is_dir() {
            return Err(PortsError::NoSysfs {
                path: sysfs.to_owned(),
            });
        }
    }
    let ports = serialport::available_ports().map_err(|source| PortsError::Enumerate { source })?;
    list_with(ports, Path::new(BY_ID_DIR))
}

fn list_with(
    ports: Vec<serialport::SerialPortInfo>,
    by_id_dir: &Path,
) -> Result<Vec<PortInfo>, PortsError> {
    let links = by_id_links(by_id_dir)?;
    let mut found: Vec<PortInfo> = ports
        .into_iter()
        .map(|port| {
            let path = PathBuf::from(port.port_name);
            let real = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            PortInfo {
                by_id: links.get(&real).cloned(),
                kind: PortKind::from(port.port_type),
                path,
            }
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Maps each device a link in `dir` resolves to onto that link. A missing directory means no
/// links (no USB serial device plugged in, or no udev); dangling links are skipped. When
/// several links lead to one device the alphabetically first wins, so output is stable.
fn by_id_links(dir: &Path) -> Result<HashMap<PathBuf, PathBuf>, PortsError> {
    let read_error = |source| PortsError::ByIdDir {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(error) => return Err(read_error(error)),
    };
    let mut links: Vec<PathBuf> = entries
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    links.sort();
    let mut by_target = HashMap::new();
    for link in links {
        if let Ok(target) = fs::canonicalize(&link) {
            by_target.entry(target).or_insert(link);
        }
    }
    Ok(by_target)
}

impl From<serialport::SerialPortType> for PortKind {
    fn from(kind: serialport::SerialPortType) -> Self {
        match kind {
            serialport::SerialPortType::UsbPort(usb) => PortKind::Usb(UsbDevice {
                vid: usb.vid,
                pid: usb.pid,
                serial_number: usb.serial_number,
                manufacturer: usb.manufacturer,
                product: usb.product,
            }),
            serialport::SerialPortType::PciPort => PortKind::Pci,
            serialport::SerialPortType::BluetoothPort => PortKind::Bluetooth,
            serialport::SerialPortType::Unknown => PortKind::Unknown,
        }
    }
}

const HEADER: [&str; 6] = [
    "PORT",
    "TYPE",
    "USB ID",
    "MANUFACTURER",
    "PRODUCT",
    "SERIAL",
];

/// A table of the ports for a terminal, each followed by its by-id path when it has one.
pub fn render(ports: &[PortInfo]) -> String {
    if ports.is_empty() {
        return "no serial ports found\n".to_owned();
    }
    let rows: Vec<[String; 6]> = ports.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_line(&mut out, &HEADER.map(str::to_owned), &widths);
    for (port, row) in ports.iter().zip(&rows) {
        push_line(&mut out, row, &widths);
        if let Some(link) = &port.by_id {
            let _ = writeln!(out, "  by-id: {}", printable(&link.display().to_string()));
        }
    }
    out
}

fn row(port: &PortInfo) -> [String; 6] {
    let text = |value: Option<&String>| value.map_or_else(|| "-".to_owned(), |v| printable(v));
    let path = printable(&port.path.display().to_string());
    let kind = match &port.kind {
        PortKind::Usb(usb) => {
            return [
                path,
                "usb".to_owned(),
                usb.id(),
                text(usb.manufacturer.as_ref()),
                text(usb.product.as_ref()),
                text(usb.serial_number.as_ref()),
            ];
        }
        PortKind::Pci => "pci",
        PortKind::Bluetooth => "bluetooth",
        PortKind::Unknown => "unknown",
    };
    let none = || "-".to_owned();
    [path, kind.to_owned(), none(), none(), none(), none()]
}

fn push_line(out: &mut String, cells: &[String; 6], widths: &[usize; 6]) {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(line, "{cell:<width$}  ");
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// USB descriptor strings come from the device; keep control characters off the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn prusa(path: &str) -> PortInfo {
        PortInfo {
            path: PathBuf::from(path),
            kind: PortKind::Usb(UsbDevice {
                vid: 0x2c99,
                pid: 0x0002,
                serial_number: Some("CZPX1234X004XK12345".into()),
                manufacturer: Some("Prusa Research (prusa3d.com)".into()),
                product: Some("Original Prusa i3 MK3".into()),
            }),
            by_id: None,
        }
    }

    #[test]
    fn render_without_ports_says_so() {
        assert_eq!(render(&[]), "no serial ports found\n");
    }

    #[test]
    fn render_shows_usb_ids_descriptors_and_by_id_path() {
        let mut port = prusa("/dev/ttyACM0");
        port.by_id = Some(PathBuf::from("/dev/serial/by-id/usb-Prusa_MK3-if00"));
        let onboard = PortInfo {
            path: PathBuf::from("/dev/ttyAMA0"),
            kind: PortKind::Unknown,
            by_id: None,
        };

        let table = render(&[port, onboard]);

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("PORT"), "{table}");
        assert!(lines[0].contains("USB ID"), "{table}");
        for expected in [
            "/dev/ttyACM0",
            "usb",
            "2c99:0002",
            "Prusa Research",
            "CZPX1234",
        ] {
            assert!(lines[1].contains(expected), "{expected} missing in {table}");
        }
        assert_eq!(lines[2], "  by-id: /dev/serial/by-id/usb-Prusa_MK3-if00");
        assert!(lines[3].starts_with("/dev/ttyAMA0"), "{table}");
        assert!(lines[3].contains("unknown"), "{table}");
        // Columns line up: the USB ID column starts where its header does.
        assert_eq!(lines[0].find("USB ID"), lines[1].find("2c99:0002"));
    }

    #[test]
    fn render_replaces_control_characters_from_descriptors() {
        let mut port = prusa("/dev/ttyACM0");
        if let PortKind::Usb(usb) = &mut port.kind {
            usb.product = Some("MK3\u{1b}[2J".into());
        }
        let table = render(&[port]);
        assert!(!table.contains('\u{1b}'));
        assert!(table.contains("MK3?[2J"), "{table}");
    }

    #[test]
    fn usb_id_is_lower_case_zero_padded_hex() {
        let PortKind::Usb(usb) = prusa("/dev/ttyACM0").kind else {
            unreachable!("prusa() builds a USB port")
        };
        assert_eq!(usb.id(), "2c99:0002");
    }

    #[test]
    fn ports_get_the_by_id_link_that_resolves_to_them() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("dev");
        let by_id = root.path().join("by-id");
        fs::create_dir_all(&dev).unwrap();
        fs::create_dir_all(&by_id).unwrap();
        for node in ["ttyACM0", "ttyACM1", "ttyUSB0"] {
            fs::write(dev.join(node), b"").unwrap();
        }
        symlink("../dev/ttyACM1", by_id.join("usb-Prusa_MK3_CZPX-if00")).unwrap();
        symlink(
            dev.join("ttyUSB0"),
            by_id.join("usb-1a86_USB_Serial-if00-port0"),
        )
        .unwrap();
        symlink("../dev/ttyGONE", by_id.join("usb-unplugged-if00")).unwrap();
        let ports = ["ttyUSB0", "ttyACM1", "ttyACM0"].map(|node| serialport::SerialPortInfo {
            port_name: dev.join(node).display().to_string(),
            port_type: serialport::SerialPortType::Unknown,
        });

        let found = list_with(Vec::from(ports), &by_id).unwrap();

        let by_id_of: Vec<_> = found.iter().map(|p| p.by_id.clone()).collect();
        assert_eq!(found[0].path, dev.join("ttyACM0"));
        assert_eq!(
            by_id_of,
            [
                None,
                Some(by_id.join("usb-Prusa_MK3_CZPX-if00")),
                Some(by_id.join("usb-1a86_USB_Serial-if00-port0")),
            ]
        );
    }

    #[test]
    fn missing_by_id_directory_means_no_links() {
        let root = tempfile::tempdir().unwrap();
        let port = serialport::SerialPortInfo {
            port_name: "/dev/ttyACM0".into(),
            port_type: serialport::SerialPortType::PciPort,
        };

        let found = list_with(vec![port], &root.path().join("absent")).unwrap();

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].by_id, None);
        assert_eq!(found[0].kind, PortKind::Pci);
    }
}
