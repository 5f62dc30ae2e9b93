// The queue (in print order, with move and cancel buttons) and the history (newest first).
// Rows are kept per job and moved rather than rebuilt, so focus stays on a pressed button.

import { showImage } from "./api.js";
import * as format from "./format.js";

const STAGES = { fetching: "fetching the file", slicing: "slicing" };

function field(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

function button(label, text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function queueMeta(job) {
  const parts = [job.printer ?? "any printer", job.material, job.quality];
  const estimate = job.corrected_estimated_time ?? job.estimated_time;
  if (estimate) parts.push(`about ${format.duration(estimate)}`);
  if (job.stage && STAGES[job.stage]) parts.push(STAGES[job.stage]);
  return parts.filter(Boolean).join(" · ");
}

function historyMeta(job) {
  const parts = [job.printer ?? "any printer", job.material, job.quality];
  if (job.completed_at) parts.push(`ended ${format.clock(job.completed_at)}`);
  else if (job.started_at) parts.push(`started ${format.clock(job.started_at)}`);
  else parts.push(`queued ${format.clock(job.queued_at)}`);
  if (job.error) parts.push(job.error);
  return parts.filter(Boolean).join(" · ");
}

class JobList {
  constructor(list, empty) {
    this.list = list;
    this.empty = empty;
    this.rows = new Map();
  }

  row(job) {
    let row = this.rows.get(job.id);
    if (!row) {
      row = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
      row.dataset.jobId = String(job.id);
      this.rows.set(job.id, row);
    }
    field(row, "id").textContent = `#${job.id}`;
    field(row, "name").textContent = job.file_name;
    const badge = field(row, "badge");
    badge.textContent = format.jobBadge(job);
    badge.dataset.tone = format.tone(job.status);
    return row;
  }

  // Puts exactly these rows, in this order, into the list.
  place(rows) {
    const keep = new Set(rows);
    for (const [id, row] of this.rows) {
      if (!keep.has(row)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    rows.forEach((row, i) => {
      if (this.list.children[i] !== row) this.list.insertBefore(row, this.list.children[i] ?? null);
    });
    this.empty.hidden = rows.length > 0;
  }
}

export class QueueList extends JobList {
  // onMove(job, newPosition) and onCancel(job) act on the job's own queue.
  constructor(list, empty, { onMove, onCancel }) {
    super(list, empty);
    this.onMove = onMove;
    this.onCancel = onCancel;
  }

  render(jobs) {
    const rows = jobs.map((job) => {
      const row = this.row(job);
      field(row, "meta").textContent = queueMeta(job);
      showImage(field(row, "thumbnail"), job.thumbnail ?? null, `Preview of ${job.file_name}`);
      this.renderButtons(row, job, jobs);
      return row;
    });
    this.place(rows);
  }

  renderButtons(row, job, jobs) {
    const siblings = jobs.filter((j) => (j.printer ?? null) === (job.printer ?? null));
    const position = siblings.indexOf(job);
    const holder = field(row, "buttons");
    if (!holder.childElementCount) {
      holder.append(
        button(`Move job #${job.id} up`, "↑", () => this.onMove(row.job, row.position - 1)),
        button(`Move job #${job.id} down`, "↓", () => this.onMove(row.job, row.position + 1)),
        button(`Cancel job #${job.id}`, "Cancel", () => this.onCancel(row.job)),
      );
    }
    row.job = job;
    row.position = position;
    const [up, down] = holder.children;
    up.disabled = position <= 0;
    down.disabled = position >= siblings.length - 1;
  }
}

export class HistoryList extends JobList {
  // planFor(job): an interrupted job's recovery plan ({plan} or {error}; null while asked);
  // onRecover(job, plan): the person pressed "Resume from layer N".
  constructor(list, empty, { planFor, onRecover }) {
    super(list, empty);
    this.planFor = planFor;
    this.onRecover = onRecover;
  }

  render(jobs) {
    const rows = jobs.map((job) => {
      const row = this.row(job);
      const recovery = job.status === "interrupted" ? this.planFor(job) : null;
      const meta = historyMeta(job);
      field(row, "meta").textContent = recovery?.error ? `${meta} · cannot resume: ${recovery.error}` : meta;
      field(row, "thumbnail").hidden = true;
      this.renderRecover(row, job, recovery?.plan ?? null);
      return row;
    });
    this.place(rows);
  }

  // "Resume from layer N (Z = … mm)" on an interrupted job that can be recovered.
  renderRecover(row, job, plan) {
    const holder = field(row, "buttons");
    if (!plan) {
      holder.replaceChildren();
      return;
    }
    const text = `Resume from layer ${plan.layer} (Z = ${plan.z_mm.toFixed(2)} mm)`;
    let b = holder.firstElementChild;
    if (!b) {
      b = button("", "", () => this.onRecover(row.job, row.plan));
      holder.append(b);
    }
    b.textContent = text;
    b.setAttribute("aria-label", `${text}: job #${job.id}`);
    row.job = job;
    row.plan = plan;
  }
}
