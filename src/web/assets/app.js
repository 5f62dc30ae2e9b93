// The status page's entry point: renders the picture of the gateway (state.js), keeps the
// live link up, and sends the operator's actions (upload, pause, resume, cancel, bed clear,
// queue moves) to the REST API, asking for the API key when the gateway wants it.

import { ApiError, request, setApiKey, upload } from "./api.js";
import { LiveLink } from "./live.js";
import { HistoryList, QueueList } from "./jobs.js";
import { PrinterCards } from "./printers.js";
import { HISTORY_PAGE, applyOrder, onChange, onMessage, state, storeJob } from "./state.js";
import { announce, askForKey, confirmRecovery, showStoredKey, toast, wireKeyDialog, wireRecoverDialog } from "./ui.js";

let views = null;
let live = null;
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(render, 0);
}

function render() {
  renderQueued = false;
  const printers = [...state.printers.values()];
  document.getElementById("no-printers").hidden = printers.length > 0;
  views.printers.render(printers, state.jobs, state.temperatures, Date.now());
  views.queue.render(state.queue.map((id) => state.jobs.get(id)).filter(Boolean));
  views.history.render(state.history.map((id) => state.jobs.get(id)).filter(Boolean));
  document.getElementById("history-more").hidden = !state.historyMore;
  renderPrinterChoices(printers);
  renderCertificate(state.cloudCertificate, Date.now());
}

// The cloud certificate banner: loud once the certificate is past its renewal point (it
// should have been renewed) and once it has expired (the broker refuses the link).
function renderCertificate(cert, now) {
  const banner = document.getElementById("cert-banner");
  const expired = cert !== null && (cert.expired || now >= cert.not_after * 1000);
  const expiring = cert !== null && !expired && (cert.expiring || now >= cert.warn_from * 1000);
  banner.hidden = !expired && !expiring;
  if (banner.hidden) return;
  const until = new Date(cert.not_after * 1000).toLocaleString();
  banner.dataset.state = expired ? "expired" : "expiring";
  banner.textContent = expired
    ? `The cloud certificate expired on ${until}: the cloud refuses this gateway until it is renewed or the gateway is enrolled again.`
    : `The cloud certificate has not been renewed and expires on ${until}. Check the cloud link and the gateway log.`;
}

function renderPrinterChoices(printers) {
  const select = document.getElementById("upload-printer");
  const have = [...select.options].slice(1).map((o) => o.value);
  const want = printers.map((p) => p.id);
  if (have.join("\n") === want.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...want.map((id) => new Option(id, id)));
  select.value = want.includes(chosen) ? chosen : "";
}

// ---- actions -------------------------------------------------------------------------

// Runs an API call; on 401 asks for the key and tries once more.
async function withKey(call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    const saved = await askForKey("This action needs the gateway's API key.");
    if (!saved) throw error;
    live.restart();
    return call();
  }
}

async function act(what, method, path, body) {
  try {
    return await withKey(() => request(method, path, body));
  } catch (error) {
    toast(`${what} failed: ${error.message}`, "bad");
    return null;
  }
}

async function onPrinterAction(printerId, action) {
  const printer = state.printers.get(printerId);
  if (!printer) return;
  if (action === "bed-cleared") {
    const updated = await act("Bed clear", "POST", `/api/printers/${printerId}/bed-cleared`);
    if (updated) state.printers.set(updated.id, { ...printer, ...updated });
  } else {
    const job = printer.job;
    if (job === null) return;
    if (action === "cancel" && !window.confirm(`Cancel job #${job} on ${printerId}?`)) return;
    const word = { pause: "Pause", resume: "Resume", cancel: "Cancel" }[action];
    const updated = await act(word, "POST", `/api/jobs/${job}/${action}`);
    if (updated) storeJob(updated);
  }
  scheduleRender();
}

async function onMove(job, position) {
  const answer = await act("Move", "POST", `/api/jobs/${job.id}/move`, { position });
  if (answer) applyOrder(answer.order);
  scheduleRender();
}

async function onCancelQueued(job) {
  if (!window.confirm(`Cancel job #${job.id} (${job.file_name})?`)) return;
  const updated = await act("Cancel", "POST", `/api/jobs/${job.id}/cancel`);
  if (updated) storeJob(updated);
  scheduleRender();
}

// Recovery plans of interrupted jobs, asked once per job: {plan} or {error}, null while asked.
const recoveryPlans = new Map();

function planFor(job) {
  if (!recoveryPlans.has(job.id)) {
    recoveryPlans.set(job.id, null);
    request("GET", `/api/jobs/${job.id}/recovery`)
      .then((plan) => recoveryPlans.set(job.id, { plan }))
      .catch((error) => recoveryPlans.set(job.id, { error: error.message }))
      .finally(scheduleRender);
  }
  return recoveryPlans.get(job.id);
}

async function onRecover(job, plan) {
  if (!(await confirmRecovery(job, plan))) return;
  const answer = await act("Resume", "POST", `/api/jobs/${job.id}/recover`, {});
  recoveryPlans.delete(job.id);
  if (answer) {
    storeJob(answer.job);
    toast(`Job #${job.id} resumes from layer ${answer.recovery.layer}.`, "info");
  }
  scheduleRender();
}

async function loadOlderHistory() {
  const before = Math.min(...state.history);
  const page = await act("Loading the history", "GET", `/api/jobs?limit=${HISTORY_PAGE}&before=${before}`);
  if (!page) return;
  for (const job of page.jobs) if (!state.jobs.has(job.id)) storeJob(job);
  state.historyMore = page.next_before !== null;
  scheduleRender();
}

// ---- upload --------------------------------------------------------------------------

function showUploadProgress(percent) {
  document.getElementById("upload-progress").value = percent;
  document.getElementById("upload-label").textContent =
    percent < 100 ? `Uploading ${percent}%` : "Uploaded, checking the file…";
}

async function onUpload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  if (!data.get("printer")) data.delete("printer");
  const submit = document.getElementById("upload-submit");
  const status = document.getElementById("upload-status");
  submit.disabled = true;
  status.hidden = false;
  showUploadProgress(0);
  try {
    const job = await withKey(() => upload(data, showUploadProgress));
    storeJob(job);
    toast(`Print queued! Job #${job.id}`, "good");
    form.reset();
  } catch (error) {
    toast(`Upload failed: ${error.message}`, "bad");
  } finally {
    submit.disabled = false;
    status.hidden = true;
    scheduleRender();
  }
}

// ---- start ---------------------------------------------------------------------------

const CONNECTION_WORDS = {
  connecting: () => "Connecting…",
  live: () => "Live",
  reconnecting: (s) => `Connection lost, reconnecting in ${s} s…`,
};

let lastConnection = "";

function onConnection(kind, seconds) {
  const element = document.getElementById("connection");
  element.dataset.state = kind;
  element.textContent = CONNECTION_WORDS[kind](seconds);
  if (kind !== lastConnection && kind !== "connecting") {
    announce(kind === "live" ? "Live updates connected" : "Live updates lost, reconnecting");
  }
  lastConnection = kind;
}

// The socket closed before it opened: find out whether the key is the reason.
async function onRefused() {
  try {
    await request("GET", "/api/status");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      live.stop();
      const element = document.getElementById("connection");
      element.dataset.state = "locked";
      element.textContent = "Enter the API key to see the printers.";
      lastConnection = "locked";
    }
  }
}

function onKeySaved(event) {
  event.preventDefault();
  setApiKey(document.getElementById("api-key").value.trim());
  toast("API key saved.", "info");
  live.restart();
}

function start() {
  views = {
    printers: new PrinterCards(document.getElementById("printers"), onPrinterAction),
    queue: new QueueList(document.getElementById("queue"), document.getElementById("queue-empty"), {
      onMove,
      onCancel: onCancelQueued,
    }),
    history: new HistoryList(document.getElementById("history"), document.getElementById("history-empty"), {
      planFor,
      onRecover,
    }),
  };
  onChange(scheduleRender);
  showStoredKey();
  wireKeyDialog();
  wireRecoverDialog();
  document.getElementById("key-form").addEventListener("submit", onKeySaved);
  document.getElementById("upload-form").addEventListener("submit", onUpload);
  document.getElementById("history-more").addEventListener("click", loadOlderHistory);
  live = new LiveLink({ onMessage, onStatus: onConnection, onRefused });
  live.start();
  // Elapsed and remaining times and the charts' time axis move on without messages.
  setInterval(scheduleRender, 1000);
}

start();
