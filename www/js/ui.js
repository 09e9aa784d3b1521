// Screens and the parts of the page every screen shares: the network line, recent blocks,
// warnings, amounts as text.

import * as w from '../pkg/memecoin_wasm.js';
import { groupThousands } from './format.js';
import { downRelays, netDetail, netText } from './relays.js';
import { app } from './state.js';

export const $ = (id) => document.getElementById(id);

const BLOCKS_LEN = 8;

/// Messages that answer one action ("Address copied.", a faucet refusal): cleared when the user
/// leaves the screen, so that none greets them later as if new.
const TRANSIENT = ['copy-status', 'faucet-status', 'phrase-status'];

export function show(name) {
  if (name !== app.screen) {
    for (const id of TRANSIENT) setText(id, '', 'hint');
    clearTimeout(app.faucetCountdown);
  }
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `screen-${name}`;
  $('lock').hidden = !app.phrase;
  const h = document.querySelector(`#screen-${name} h1`);
  if (h) h.focus();
  app.screen = name;
}

/// `address` in two halves that wrap as units: on a narrow screen it breaks into two lines of
/// equal length, never a long line and a few orphaned characters.
export function setAddress(el, address) {
  const cut = Math.ceil(address.length / 2);
  el.replaceChildren(...[address.slice(0, cut), address.slice(cut)].map((part) => {
    const span = document.createElement('span');
    span.className = 'addr-part';
    span.textContent = part;
    return span;
  }));
}

/// The epoch of the newest verified block (what "paid back from epoch N" is counted against),
/// or null before one is verified.
export function currentEpoch() {
  const at = app.head || app.finalized;
  if (!at || !app.params) return null;
  return Math.floor(Number(at.slot) / Number(app.params.slots_per_epoch));
}

export function setText(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

/// An amount for reading: the exact text of `format_amount`, its whole part grouped by
/// thousands (`1,000,000.5 MEME`). Fields that are typed into use `format_amount` as is.
export function fmt(units) {
  return `${groupThousands(w.format_amount(units))} ${w.ticker()}`;
}

/// A warning: the newest of each kind (by `key`: relay and kind) stays in view, every one goes
/// into the log below it.
export function warn(key, title, detail) {
  app.warnings.add(key, title, detail, new Date());
  const current = [...app.warnings.current.values()].map((x) => {
    const div = document.createElement('div');
    div.className = 'warning';
    const strong = document.createElement('strong');
    strong.textContent = `⚠ ${x.title}`;
    div.append(strong, document.createTextNode(x.detail));
    return div;
  });
  const log = document.createElement('details');
  log.className = 'warning-log';
  const summary = document.createElement('summary');
  summary.textContent = `All warnings (${app.warnings.log.length})`;
  const list = document.createElement('ol');
  list.replaceChildren(...app.warnings.log.map((x) => {
    const li = document.createElement('li');
    li.textContent = `${x.time.toLocaleTimeString()} — ${x.title}: ${x.detail}`;
    return li;
  }));
  log.append(summary, list);
  $('warnings').replaceChildren(...current, log);
}

export function renderNet() {
  const { text, ok } = netText(app.relays, app.head);
  const el = $('net');
  el.textContent = text;
  el.className = `net ${ok ? 'ok' : 'down'}`;
  el.title = netDetail(app.relays, app.head, app.finalized);
  // Each relay that is down, with its reason, on the page rather than only in the tooltip.
  const down = downRelays(app.relays);
  const list = $('relay-problems');
  list.replaceChildren(...down.map(([u, r]) => {
    const li = document.createElement('li');
    li.textContent = `${u}: ${r.reason}`;
    return li;
  }));
  list.hidden = down.length === 0;
}

export function addBlock(anchor, proposer) {
  if (app.blocks.some((b) => b.hash === anchor.hash)) return;
  app.blocks.unshift({ height: anchor.height, hash: anchor.hash, proposer });
  app.blocks.sort((a, b) => (a.height < b.height ? 1 : -1));
  app.blocks.length = Math.min(app.blocks.length, BLOCKS_LEN);
  renderBlocks();
}

export function renderBlocks() {
  const list = $('blocks');
  if (!app.blocks.length) return;
  list.replaceChildren(...app.blocks.map((b) => {
    const li = document.createElement('li');
    const fin = app.finalized && b.height <= app.finalized.height;
    li.innerHTML = '<span></span><span class="mono small muted"></span><span></span>';
    li.children[0].textContent = `#${b.height}`;
    li.children[1].textContent = `by ${b.proposer.slice(0, 9)}…${b.proposer.slice(-4)}`;
    li.children[1].title = `proposer ${b.proposer}`;
    li.children[2].textContent = fin ? '✓ finalized' : '✓ verified';
    li.children[2].title = fin ? 'header verified and finalized' : 'header signed by the elected proposer, verified';
    li.children[2].className = 'ok-mark';
    li.dataset.height = String(b.height);
    return li;
  }));
}
