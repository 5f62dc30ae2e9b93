#!/usr/bin/env python3
"""Streams a G-code file through OctoPrint's own serial layer (`octoprint.util.comm.MachineCom`)
to a serial port, and prints the seconds from the start of the print to its end as JSON (the
benchmark times the print at the printer instead, the same way for both hosts).

Usage: serial_recovery_octoprint.py PORT FILE. OctoPrint runs with its default serial
settings in a throwaway base folder; nothing else of OctoPrint (server, plugins) is started.
"""

import json
import sys
import tempfile
import threading
import time


def main():
    port, path = sys.argv[1], sys.argv[2]
    import octoprint.plugin
    import octoprint.settings

    base = tempfile.mkdtemp(prefix="octoprint-base-")
    octoprint.settings.settings(init=True, basedir=base)
    octoprint.plugin.plugin_manager(init=True, plugin_folders=[], plugin_disabled_list=[])
    from octoprint.events import eventManager
    from octoprint.printer.profile import PrinterProfileManager
    from octoprint.util import comm

    eventManager()
    done = threading.Event()
    operational = threading.Event()

    class Callback(comm.MachineComPrintCallback):
        def on_comm_state_change(self, state):
            if state == comm.MachineCom.STATE_OPERATIONAL:
                operational.set()

        def on_comm_print_job_done(self, suppress_script=False):
            done.set()

    machine = comm.MachineCom(
        port=port,
        baudrate=115200,
        callbackObject=Callback(),
        printerProfileManager=PrinterProfileManager(),
    )
    machine.start()
    if not operational.wait(60):
        sys.exit(f"MachineCom never became operational: {machine.getStateString()}")
    machine.selectFile(path, False)
    started = time.monotonic()
    machine.startPrint()
    if not done.wait(600):
        sys.exit("the print did not finish within 10 minutes")
    seconds = time.monotonic() - started
    machine.close()
    print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
