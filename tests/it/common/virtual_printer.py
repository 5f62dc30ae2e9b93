#!/usr/bin/env python3
"""OctoPrint's VirtualPrinter behind a pseudo-terminal, for the gateway to open as its port.

Runs `octoprint.plugins.virtual_printer.virtual.VirtualPrinter` with the plugin's default
settings (simulated errors on lines 100-115 included) and relays bytes between it and the
master side of a pty. Prints the slave path on the first line of stdout, then serves until
stdin closes (the parent died or is done). With `--record FILE`, every move (G0/G1) the
printer executes is appended to FILE as `<line number> <monotonic seconds> <command>`, so a
test can compare it with the file it sent and a benchmark can time the print at the printer.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
import tty

from octoprint.plugins.virtual_printer import VirtualPrinterPlugin, virtual


class Settings:
    """The few `PluginSettings` calls VirtualPrinter makes, over the plugin's defaults."""

    def __init__(self, basefolder):
        self._values = VirtualPrinterPlugin().get_settings_defaults()
        self._basefolder = basefolder

    def get(self, path, merged=False):
        value = self._values
        for key in path:
            value = value[key]
        return value

    def get_int(self, path):
        value = self.get(path)
        return None if value is None else int(value)

    def get_float(self, path):
        value = self.get(path)
        return None if value is None else float(value)

    def get_boolean(self, path):
        return bool(self.get(path))

    def global_get_basefolder(self, name):
        folder = os.path.join(self._basefolder, name)
        os.makedirs(folder, exist_ok=True)
        return folder


class NoHooks:
    def get_hooks(self, _name):
        return {}


class RecordingPrinter(virtual.VirtualPrinter):
    """Appends each executed move to the record file."""

    record = None

    def _gcode_G0(self, data):
        if self.record is not None:
            # Lines are handled one at a time on the read thread: `lastN` is this one's.
            now = time.monotonic()
            self.record.write(f"{self.lastN} {now:.6f} {data.strip()}\n")
            self.record.flush()
        return super()._gcode_G0(data)

    _gcode_G1 = _gcode_G0


def host_to_printer(master, printer):
    # VirtualPrinter takes one queued write per loop turn and leaves the rest of it for the
    # next write or a 10 ms timeout: hand it one line per write, as a UART delivers bytes
    # whatever the host's writes were.
    pending = b""
    while True:
        try:
            pending += os.read(master, 1024)
        except OSError:
            # No host has the slave open (EIO): wait for one.
            threading.Event().wait(0.02)
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            offer(printer, line + b"\n")


def offer(printer, data):
    """Writes `data` once the printer's receive queue has room for it. VirtualPrinter's own
    `write` blocks on a full queue while holding the lock its reader needs to request a
    resend, so a host that keeps the queue full would freeze it for the 10 s write timeout."""
    incoming = printer.incoming
    while incoming is not None and incoming.maxsize - incoming.qsize() < len(data):
        time.sleep(0.0005)
    while data:
        written = printer.write(data)
        data = data[written or 0 :]


def printer_to_host(master, printer):
    while True:
        line = printer.readline()
        if line:
            # VirtualPrinter queues most lines without their line ending.
            os.write(master, line if line.endswith(b"\n") else line + b"\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record")
    args = parser.parse_args()
    # VirtualPrinter asks the plugin manager for action hooks; there are none here.
    virtual.plugin_manager = NoHooks
    folder = tempfile.mkdtemp(prefix="virtual-printer-")
    if args.record:
        RecordingPrinter.record = open(args.record, "a", encoding="ascii")
    master, slave = os.openpty()
    tty.setraw(slave)
    printer = RecordingPrinter(Settings(folder), None, data_folder=folder)
    for target in (host_to_printer, printer_to_host):
        threading.Thread(target=target, args=(master, printer), daemon=True).start()
    print(os.ttyname(slave), flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
