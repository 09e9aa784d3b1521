// Warnings about what relays sent: the newest of each kind stays in view, and every one goes into
// a short log, so an earlier, different lie of the same relay does not vanish. Pure; ui.js
// renders it.

export const WARNING_LOG = 20;

export class Warnings {
  constructor(limit = WARNING_LOG) {
    this.limit = limit;
    this.current = new Map(); // key (relay and kind) → { title, detail }
    this.log = []; // newest first: { time, title, detail }
  }

  add(key, title, detail, time) {
    this.current.set(key, { title, detail });
    this.log.unshift({ time, title, detail });
    this.log.length = Math.min(this.log.length, this.limit);
  }
}
