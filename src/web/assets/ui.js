// Page-wide feedback: toasts, the screen-reader announcer and the API key prompt.

import { apiKey, setApiKey } from "./api.js";

const TOAST_MS = { info: 8000, good: 8000, bad: 15000 };

export function toast(text, tone = "info") {
  const container = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = "toast";
  item.dataset.tone = tone;
  const message = document.createElement("span");
  message.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.textContent = "×";
  close.setAttribute("aria-label", "Dismiss message");
  close.addEventListener("click", () => item.remove());
  item.append(message, close);
  container.append(item);
  setTimeout(() => item.remove(), TOAST_MS[tone] ?? TOAST_MS.info);
}

// Status changes for screen readers; toasts announce themselves through their own region.
export function announce(text) {
  document.getElementById("announcer").textContent = text;
}

// Keeps the header's key field in step with the stored key.
export function showStoredKey() {
  document.getElementById("api-key").value = apiKey();
}

let keyPrompt = null;

// Opens the key dialog (once, however many actions are waiting for it); resolves true once a
// key was saved, false when dismissed.
export function askForKey(reason) {
  keyPrompt ??= openKeyDialog(reason).finally(() => {
    keyPrompt = null;
  });
  return keyPrompt;
}

function openKeyDialog(reason) {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-dialog-input");
  document.getElementById("key-dialog-reason").textContent = reason;
  input.value = apiKey();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const saved = dialog.returnValue === "save" && input.value.trim() !== "";
        if (saved) {
          setApiKey(input.value.trim());
          showStoredKey();
        }
        resolve(saved);
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}

export function wireKeyDialog() {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-dialog-cancel").addEventListener("click", () => dialog.close("cancel"));
}

// What resuming an interrupted job will do, in words and as the printer's commands; resolves
// true once the person confirmed.
export function confirmRecovery(job, plan) {
  const dialog = document.getElementById("recover-dialog");
  document.getElementById("recover-dialog-title").textContent =
    `Resume job #${job.id} from layer ${plan.layer} (Z = ${plan.z_mm.toFixed(2)} mm)?`;
  document.getElementById("recover-dialog-what").textContent =
    `${plan.printer} stopped at layer ${plan.confirmed_layer} (line ${plan.confirmed_line + 1} of ` +
    `${job.file_name}). It heats up again, homes X and Y only — never Z, the part stays under ` +
    `the nozzle, whose height is taken as ${plan.nozzle_z_mm.toFixed(2)} mm — primes, moves ` +
    `above the part and prints again from the start of layer ${plan.layer} (line ${plan.line + 1}).`;
  document.getElementById("recover-dialog-prologue").textContent = plan.prologue.join("\n");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "recover"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("recover-dialog-cancel").focus();
  });
}

export function wireRecoverDialog() {
  const dialog = document.getElementById("recover-dialog");
  document.getElementById("recover-dialog-cancel").addEventListener("click", () => dialog.close("cancel"));
}
