// Words and numbers as the page shows them: state badges, durations, times.

const PRINTER_WORDS = {
  idle: "Idle",
  paused: "Paused",
  "printing-external": "Printing (external)",
  "awaiting-bed-clear": "Awaiting bed clear",
  error: "Error",
  disconnected: "Disconnected",
  "monitor-only": "Monitor only",
};

const JOB_WORDS = {
  queued: "Queued",
  paused: "Paused",
  completed: "Printed",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

// The colour family of a badge (app.css): busy, good, attention, bad or quiet.
const TONES = {
  printing: "busy",
  "printing-external": "busy",
  queued: "quiet",
  idle: "quiet",
  paused: "attention",
  "awaiting-bed-clear": "attention",
  "monitor-only": "attention",
  completed: "good",
  failed: "bad",
  error: "bad",
  disconnected: "bad",
  cancelled: "quiet",
  interrupted: "bad",
};

export function tone(state) {
  return TONES[state] ?? "quiet";
}

export function printerBadge(printer) {
  if (printer.state === "printing") return `Printing ${printer.progress ?? 0}%`;
  if (printer.state === "printing-external" && printer.external) {
    const { file, progress } = printer.external;
    return progress === null ? `Printing (external) — ${file}` : `Printing (external) ${progress}% — ${file}`;
  }
  return PRINTER_WORDS[printer.state] ?? printer.state;
}

export function jobBadge(job) {
  if (job.status === "printing") return `Printing ${job.progress ?? 0}%`;
  return JOB_WORDS[job.status] ?? job.status;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

export function clock(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today
    ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : at.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

export function elapsedSeconds(job, now) {
  if (!job || !job.started_at) return null;
  const end = job.completed_at ? Date.parse(job.completed_at) : now;
  return Math.max(0, (end - Date.parse(job.started_at)) / 1000);
}

// Remaining time of a running job: the gateway's (from the file's analysis, corrected for
// the printer) when it has one; else the estimate while the print keeps within it, else
// extrapolated from the progress so far. Either way it is an estimate.
export function remainingSeconds(job, progress, now, server) {
  if (server !== null && server !== undefined) return { seconds: server, basis: "from the G-code analysis" };
  const elapsed = elapsedSeconds(job, now);
  if (elapsed === null) return null;
  if (job.estimated_time && elapsed < job.estimated_time) {
    return { seconds: job.estimated_time - elapsed, basis: "slicer estimate" };
  }
  if (progress > 0 && progress < 100) {
    return { seconds: (elapsed * (100 - progress)) / progress, basis: "estimate from progress" };
  }
  return null;
}

export function temperature(label, reading) {
  if (!reading) return `${label} –`;
  const target = reading.target ? ` / ${Math.round(reading.target)} °C` : " °C";
  return `${label} ${reading.actual.toFixed(1)}${target}`;
}

// How a printer's estimates have matched its completed jobs, in one line (null before any).
export function accuracy(a) {
  if (!a || !a.jobs) return null;
  const jobs = `${a.jobs} job${a.jobs === 1 ? "" : "s"}`;
  const error = a.mean_abs_error_pct === null ? "" : `, ±${Math.round(a.mean_abs_error_pct)} % off`;
  const off = Math.round((a.factor - 1) * 100);
  if (off === 0) return `Estimates on target (×${a.factor.toFixed(2)}${error}, ${jobs})`;
  const way = off > 0 ? "longer" : "shorter";
  return `Prints run ${Math.abs(off)} % ${way} than estimated, corrected ×${a.factor.toFixed(2)} (${jobs}${error})`;
}
