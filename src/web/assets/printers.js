// One card per printer: state badge, temperatures with their chart, the current job with
// progress and times, and the buttons that make sense in the printer's state.

import { showImage } from "./api.js";
import { drawChart } from "./chart.js";
import * as format from "./format.js";

// Which buttons a state offers.
const ACTIONS = {
  printing: ["pause", "cancel"],
  paused: ["resume", "cancel"],
  "awaiting-bed-clear": ["bed-cleared"],
};

// Why nothing of ours runs on a printer busy with someone else's print.
const EXTERNAL_DETAIL =
  "Started outside the gateway (on OctoPrint). Queued jobs wait until it ends and the bed is cleared.";

function field(card, name) {
  return card.querySelector(`[data-field="${name}"]`);
}

function createCard(printer, onAction) {
  const card = document.getElementById("printer-template").content.firstElementChild.cloneNode(true);
  card.dataset.printer = printer.id;
  const title = `printer-${printer.id}-name`;
  field(card, "name").id = title;
  card.setAttribute("aria-labelledby", title);
  for (const button of card.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => onAction(printer.id, button.dataset.action));
  }
  return card;
}

function setBadge(element, text, state) {
  element.textContent = text;
  element.dataset.tone = format.tone(state);
}

function renderTemperatures(card, printer, history, now) {
  const hotend = format.temperature("Hotend", printer.temperatures.hotends[0]);
  const bed = format.temperature("Bed", printer.temperatures.bed);
  field(card, "hotend").textContent = hotend;
  field(card, "bed").textContent = bed;
  const chart = field(card, "chart");
  chart.setAttribute("aria-label", `Temperatures over the last 5 minutes. ${hotend}. ${bed}.`);
  if (history) drawChart(chart, history, now);
}

function renderTimes(card, printer, job, now) {
  const elapsed = format.elapsedSeconds(job, now);
  field(card, "elapsed").textContent = elapsed === null ? "–" : format.duration(elapsed);
  const running = printer.state === "printing" || printer.state === "paused";
  const server = printer.remaining_time ?? job.remaining_time ?? null;
  const remaining = running
    ? format.remainingSeconds(job, printer.progress ?? job.progress, now, server)
    : null;
  field(card, "remaining").textContent = remaining ? `about ${format.duration(remaining.seconds)}` : "–";
  field(card, "remaining-label").textContent = remaining
    ? `Remaining (${remaining.basis})`
    : "Remaining (estimate)";
}

function renderJob(card, printer, job, now) {
  const current = field(card, "current");
  current.hidden = !job;
  if (!job) return;
  field(card, "job-name").textContent = `#${job.id} ${job.file_name}`;
  showImage(field(card, "thumbnail"), job.thumbnail ?? null, `Preview of ${job.file_name}`);
  setBadge(field(card, "job-badge"), format.jobBadge(job), job.status);
  const progress = field(card, "job-progress");
  progress.value = printer.state === "printing" || printer.state === "paused"
    ? (printer.progress ?? job.progress)
    : job.progress;
  progress.setAttribute("aria-label", `Progress of job #${job.id}`);
  renderTimes(card, printer, job, now);
}

function renderButtons(card, printer, job) {
  const offered = ACTIONS[printer.state] ?? [];
  for (const button of card.querySelectorAll("[data-action]")) {
    const action = button.dataset.action;
    const needsJob = action !== "bed-cleared";
    button.hidden = !offered.includes(action) || (needsJob && !job);
    button.setAttribute("aria-label", `${button.textContent} on ${printer.id}`);
  }
}

export class PrinterCards {
  constructor(container, onAction) {
    this.container = container;
    this.onAction = onAction;
    this.cards = new Map();
  }

  // printers: PrinterJson list; jobs: Map id → job; histories: Map printer id → history.
  render(printers, jobs, histories, now) {
    for (const [id, card] of this.cards) {
      if (!printers.some((p) => p.id === id)) {
        card.remove();
        this.cards.delete(id);
      }
    }
    for (const printer of printers) {
      let card = this.cards.get(printer.id);
      if (!card) {
        card = createCard(printer, this.onAction);
        this.cards.set(printer.id, card);
        this.container.append(card);
      }
      const job = printer.job === null ? null : jobs.get(printer.job) ?? null;
      field(card, "name").textContent = printer.id;
      setBadge(field(card, "badge"), format.printerBadge(printer), printer.state);
      const detail = field(card, "detail");
      const text = printer.state === "printing-external" ? EXTERNAL_DETAIL : printer.detail;
      detail.hidden = !text;
      detail.textContent = text ?? "";
      const accuracy = field(card, "accuracy");
      accuracy.textContent = format.accuracy(printer.accuracy) ?? "";
      accuracy.hidden = !accuracy.textContent;
      renderTemperatures(card, printer, histories.get(printer.id), now);
      renderJob(card, printer, job, now);
      renderButtons(card, printer, job);
    }
  }
}
