// The page's picture of the gateway (printers, jobs, queue, history, temperature histories),
// kept up to date from the live WebSocket's snapshot, events and printer updates.

import { request } from "./api.js";
import { TemperatureHistory } from "./chart.js";
import * as format from "./format.js";
import { announce, toast } from "./ui.js";

export const HISTORY_PAGE = 20;

export const state = {
  printers: new Map(), // id → PrinterJson
  jobs: new Map(), // id → JobJson (partial until fetched)
  queue: [], // queued job ids in print order
  history: [], // job ids, newest first
  historyMore: false,
  temperatures: new Map(), // printer id → TemperatureHistory
  cloudCertificate: null, // the cloud link certificate's validity (null: link off)
};

let changed = () => {};

// Called whenever the picture changed (the page re-renders, batched).
export function onChange(callback) {
  changed = callback;
}

export function storeJob(job) {
  state.jobs.set(job.id, job);
  if (job.status === "queued") {
    if (!state.queue.includes(job.id)) state.queue.push(job.id);
  } else {
    state.queue = state.queue.filter((id) => id !== job.id);
  }
  if (!state.history.includes(job.id)) {
    state.history.push(job.id);
    state.history.sort((a, b) => b - a);
  }
  return job;
}

// Jobs being read → whether to read again once the answer is in (the job changed meanwhile).
const fetching = new Map();

function stateOf(job) {
  const { status, stage, progress, error, updated_at, started_at } = job;
  return { status, stage, progress, error, updated_at, started_at: started_at ?? null };
}

async function refreshJob(id) {
  if (fetching.has(id)) {
    fetching.set(id, true);
    return;
  }
  fetching.set(id, false);
  try {
    const fetched = await request("GET", `/api/jobs/${id}`);
    const known = state.jobs.get(id);
    // An event may have overtaken the answer: keep its state, take the other fields.
    const overtaken = known && Date.parse(known.updated_at) > Date.parse(fetched.updated_at);
    storeJob(overtaken ? { ...fetched, ...stateOf(known) } : fetched);
    changed();
  } catch (error) {
    console.warn(`job ${id} could not be read`, error);
  } finally {
    const again = fetching.get(id);
    fetching.delete(id);
    if (again) refreshJob(id);
  }
}

function storePrinter(printer) {
  state.printers.set(printer.id, printer);
  let history = state.temperatures.get(printer.id);
  if (!history) {
    history = new TemperatureHistory();
    state.temperatures.set(printer.id, history);
  }
  history.add(Date.now(), printer.temperatures);
  const job = printer.job === null ? null : state.jobs.get(printer.job);
  if (printer.job !== null && !job) refreshJob(printer.job);
  if (job && job.status === "printing" && printer.progress !== null) job.progress = printer.progress;
}

function applySnapshot(message) {
  state.jobs.clear();
  state.queue = [];
  state.history = [];
  for (const job of message.recent) storeJob(job);
  for (const job of message.queue) storeJob(job);
  state.queue = message.queue.map((job) => job.id);
  state.historyMore = message.recent.length >= HISTORY_PAGE;
  state.printers.clear();
  for (const printer of message.printers) storePrinter(printer);
  state.cloudCertificate = message.cloud_certificate ?? null;
}

function applyJobEvent(event) {
  const id = event.gateway_job;
  const known = state.jobs.get(id);
  const job = storeJob({
    ...(known ?? { id, queued_at: event.at }),
    file_name: event.file_name,
    printer: event.printer,
    project_id: event.project_id,
    status: event.status,
    stage: event.stage,
    progress: event.progress,
    error: event.error,
    remaining_time: event.remaining_time ?? null,
    updated_at: event.at,
    started_at: known?.started_at ?? (event.status === "printing" ? event.at : null),
  });
  if (known && known.status === job.status) return;
  refreshJob(id);
  announce(`Job #${id} ${job.file_name}: ${format.jobBadge(job)}`);
  if (job.status === "completed") toast("Print completed successfully!", "good");
  if (job.status === "failed") toast(`Print failed: ${job.error ?? "unknown error"} (job #${id})`, "bad");
}

export function applyOrder(order) {
  const wanted = order.filter((id) => state.queue.includes(id));
  const moved = new Set(wanted);
  let next = 0;
  state.queue = state.queue.map((id) => (moved.has(id) ? wanted[next++] : id));
}

function applyEvent(event) {
  switch (event.type) {
    case "job:queued":
    case "print:status-update":
      applyJobEvent(event);
      break;
    case "printer:state": {
      const printer = state.printers.get(event.printer);
      if (!printer) break;
      const moved = printer.state !== event.state;
      Object.assign(printer, { state: event.state, detail: event.detail, job: event.job });
      if (moved) announce(`${printer.id}: ${format.printerBadge(printer)}`);
      break;
    }
    case "queue:reordered":
      applyOrder(event.order);
      break;
    default:
      break;
  }
}

export function onMessage(message) {
  if (message.type === "snapshot") applySnapshot(message);
  else if (message.type === "event") applyEvent(message.event);
  else if (message.type === "printer") storePrinter(message.printer);
  changed();
}
