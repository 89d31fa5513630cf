// The dashboard's polling: one request at a time, the next a second after
// the last answer; none while the tab is hidden.

import { banner } from "./dom.js";

let poller = null;

export function startPolling(fn) {
  poller = { fn, timer: 0, busy: false };
  pollNow();
}

export function stopPolling() {
  if (poller) clearTimeout(poller.timer);
  poller = null;
  banner(null);
}

// Polls now (after a change, or when the tab shows again) unless a poll
// is under way.
export async function pollNow() {
  const p = poller;
  if (!p || p.busy || document.hidden) return;
  clearTimeout(p.timer);
  p.busy = true;
  try {
    await p.fn();
    if (poller === p) banner(null);
  } catch (e) {
    if (poller === p) banner("Connection lost: " + e.message + ". Trying again every second…");
  }
  p.busy = false;
  if (poller === p && !document.hidden) p.timer = setTimeout(pollNow, 1000);
}

document.addEventListener("visibilitychange", pollNow);
