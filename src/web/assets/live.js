// The live link: one WebSocket to /api/ws that reconnects by itself with exponential backoff
// (1 s doubling to 30 s, with jitter so a room of tablets does not reconnect in step) and
// says what it is doing through onStatus.

import { liveUrl } from "./api.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class LiveLink {
  // onMessage(parsed message); onStatus(state, secondsUntilRetry); onRefused() when the
  // socket closed before it ever opened (the key may be missing or wrong).
  constructor({ onMessage, onStatus, onRefused }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.socket = null;
    this.failures = 0;
    this.timer = null;
  }

  start() {
    clearInterval(this.timer);
    this.timer = null;
    this.onStatus("connecting", 0);
    const socket = new WebSocket(liveUrl());
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.failures = 0;
      this.onStatus("live", 0);
    });
    socket.addEventListener("message", (e) => {
      try {
        this.onMessage(JSON.parse(e.data));
      } catch (error) {
        console.error("unreadable live message", error);
      }
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!opened) this.onRefused();
      this.retryLater();
    });
    this.socket = socket;
  }

  // Reconnects now, e.g. with a new API key.
  restart() {
    this.stop();
    this.failures = 0;
    this.start();
  }

  // Stops reconnecting until the next start or restart.
  stop() {
    clearInterval(this.timer);
    this.timer = null;
    const old = this.socket;
    this.socket = null;
    if (old) old.close();
  }

  retryLater() {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    const delay = base * (0.75 + Math.random() * 0.5);
    this.failures += 1;
    const due = Date.now() + delay;
    const countdown = () => {
      const left = Math.ceil((due - Date.now()) / 1000);
      if (left <= 0) this.start();
      else this.onStatus("reconnecting", left);
    };
    countdown();
    this.timer = setInterval(countdown, 250);
  }
}
