//! OctoPrint's VirtualPrinter (from the OctoPrint venv the tests already use) behind a
//! pseudo-terminal, as a serial printer the gateway opens by path: a Marlin peer not
//! written here, with OctoPrint's default simulated errors on lines 100-115. The bridge
//! (`virtual_printer.py`) records every move the printer executes, with its line number.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;

use fluxprint_gateway::config::{DriverConfig, PrinterConfig};
use fluxprint_gateway::printer::builtin::{port_settings, start_serial};
use fluxprint_gateway::printer::driver::{DriverError, DriverFactory, DriverLink};
use fluxprint_gateway::printer::serial::SerialStats;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One VirtualPrinter on its own pty; it stops when dropped.
pub struct VirtualPrinterPeer {
    child: Child,
    /// Closing it tells the bridge to exit.
    stdin: Option<ChildStdin>,
    /// The pty's slave side: the serial port to open.
    pub port: PathBuf,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl VirtualPrinterPeer {
    pub fn start() -> VirtualPrinterPeer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "OctoPrint's VirtualPrinter needs the venv: run scripts/test (it installs \
             requirements-test.txt into .venv)"
        );
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("executed.txt");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/common/virtual_printer.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(
            first.starts_with("/dev/"),
            "the VirtualPrinter bridge did not start (is OctoPrint installed in .venv?): {first:?}"
        );
        VirtualPrinterPeer {
            stdin: child.stdin.take(),
            child,
            port: PathBuf::from(first.trim()),
            record,
            _dir: dir,
        }
    }

    /// The moves the printer executed, in order, as (line number, command).
    pub fn executed(&self) -> Vec<(u32, String)> {
        self.moves()
            .into_iter()
            .map(|(number, _, command)| (number, command))
            .collect()
    }

    /// Seconds from the first move the printer executed to the last, and how many it ran.
    #[allow(dead_code)] // the benchmark's (benches/serial_recovery.rs)
    pub fn span(&self) -> (f64, usize) {
        let moves = self.moves();
        let at = |i: usize| moves.get(i).map_or(0.0, |m| m.1);
        (at(moves.len().saturating_sub(1)) - at(0), moves.len())
    }

    /// (line number, when it ran, command), as the bridge recorded them.
    fn moves(&self) -> Vec<(u32, f64, String)> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let number = parts.next()?.parse().ok()?;
                let at = parts.next()?.parse().ok()?;
                Some((number, at, parts.next()?.to_owned()))
            })
            .collect()
    }
}

impl Drop for VirtualPrinterPeer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts serial printers on the port their config names, keeping their link counters.
#[derive(Clone, Default)]
pub struct PortDrivers {
    pub stats: Arc<SerialStats>,
}

impl DriverFactory for PortDrivers {
    fn start(
        &self,
        printer: &PrinterConfig,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<DriverLink, DriverError> {
        let DriverConfig::Serial { port, baud } = &printer.driver else {
            panic!("PortDrivers drives serial printers only");
        };
        let mut settings = port_settings(printer, port.clone(), *baud);
        settings.stats = self.stats.clone();
        start_serial(settings, shutdown, tasks).map_err(|e| DriverError::start(&printer.id, e))
    }
}
