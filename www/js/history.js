// Activity: this device's record of the account's transactions (records.js), each status
// verified by proof, stored per chain and address, and the status screen of one transaction.

import * as w from '../pkg/memecoin_wasm.js';
import { nameOf } from './accounts.js';
import { groupAddress } from './format.js';
import {
  KIND, applyStatus, displayOrder, expireListed, fromStored, isDust, isOpen, knownAddresses,
  listedEntries, replaceEntry, replacementFee, sentEntry, statusText, supersede, toStored,
} from './records.js';
import { BUNDLE, app, historyKey, store } from './state.js';
import { $, fmt, setText, show } from './ui.js';

export function loadHistory() {
  try {
    return fromStored(JSON.parse(store.getItem(historyKey()) || '[]'));
  } catch {
    return [];
  }
}

function saveHistory() {
  try {
    store.setItem(historyKey(), JSON.stringify(toStored(app.history)));
  } catch {
    // Storage full or unavailable: the record holds for this session.
  }
}

/// Records a transaction this device sent (or asked the faucet for).
export function record(entry) {
  app.history.unshift(sentEntry(entry, Date.now()));
  saveHistory();
  renderHistory();
}

/// Records that the pending entry `id` was replaced by `entry` (same nonce, higher fee).
export function replaced(id, entry) {
  app.history = replaceEntry(app.history, id, entry, Date.now());
  saveHistory();
  renderHistory();
}

export function renderHistory() {
  const list = $('history');
  if (!app.history.length) {
    list.innerHTML = '<li class="hint">No transactions yet.</li>';
    return;
  }
  const sorted = displayOrder(app.history);
  const known = knownAddresses(app.history);
  const minFee = app.params ? app.params.min_fee : 0n;
  const dust = sorted.filter((h) => isDust(h, known, minFee));
  const shown = app.hideDust ? sorted.filter((h) => !dust.includes(h)) : sorted;
  const items = shown.map((h) => {
    const li = document.createElement('li');
    li.dataset.tx = h.id;
    li.dataset.status = h.status;
    li.innerHTML = '<span></span><span class="mono"></span><span></span>';
    const sign = amountSign(h.kind);
    const other = h.kind === 'faucet' || h.kind === 'cancel' ? null : h.to || h.from;
    // A counterparty this wallet knows goes by its name (an account of this wallet, or a
    // contact); any other by its whole address, grouped, with a button to name it.
    const named = other ? nameOf(other, app.accounts, app.contacts) : null;
    const peer = other ? ` ${h.to ? 'to' : 'from'} ${named ? named.name : groupAddress(other)}` : '';
    const fresh = other && !named && h.kind === 'received' && !known.has(other) ? ' (new sender)' : '';
    li.children[0].textContent = `${KIND[h.kind] || h.kind}${peer}${fresh}`;
    if (fresh) li.children[0].classList.add('new-peer');
    li.children[1].textContent = `${sign}${fmt(h.amount)}`;
    li.children[1].className = 'mono amount-col';
    li.children[2].textContent = statusText(h);
    li.children[2].className = h.verified ? 'ok-mark' : 'muted';
    li.title = `transaction ${h.id}${other ? `, ${h.to ? 'to' : 'from'} ${other}` : ''}`;
    if (other && !named) {
      const save = document.createElement('button');
      save.type = 'button';
      save.className = 'link save-contact';
      save.dataset.address = other;
      save.textContent = 'Save as contact';
      li.append(save);
    }
    return li;
  });
  if (dust.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    const button = document.createElement('button');
    button.type = 'button';
    button.id = 'toggle-dust';
    button.textContent = app.hideDust
      ? `Show ${dust.length} small payment${dust.length > 1 ? 's' : ''} from new senders`
      : 'Hide small payments from new senders';
    button.addEventListener('click', () => { app.hideDust = !app.hideDust; renderHistory(); });
    li.append(button);
    items.push(li);
  }
  list.replaceChildren(...items);
}

/// The sign of an entry's amount, as it moves the spendable balance: a stake takes coins out of
/// it, an unstake brings them back (once unbonded), a payment received or asked for adds.
function amountSign(kind) {
  if (kind === 'faucet' || kind === 'received' || kind === 'unstake') return '+';
  if (kind === 'transfer' || kind === 'stake') return '−';
  return '';
}

/// Merges the serving relay's listing of this account's transactions into the history, as far
/// as their bytes check (`listedEntries`); a status is shown only once a proof verifies.
export async function syncListedHistory() {
  const address = app.address;
  if (!address || BUNDLE) return; // the listing is the serving relay's HTTP API
  let body;
  try {
    const res = await fetch(`api/accounts/${address}/txs`);
    if (!res.ok) return;
    body = await res.json();
  } catch {
    return;
  }
  if (address !== app.address || !Array.isArray(body.txs)) return;
  const added = listedEntries(app.history, body.txs, address, w.describe_tx, Date.now());
  if (!added.length) return;
  app.history.push(...added);
  renderHistory();
  refreshHistory();
}

let refreshing = false;
/// Asks the client about every open entry and moves it on by what is proved.
export async function refreshHistory() {
  if (refreshing || !app.client) return;
  refreshing = true;
  try {
    // The relay's listing is its word: what no proof covers in time is forgotten.
    const before = app.history.length;
    app.history = expireListed(app.history, Date.now());
    if (app.history.length !== before) renderHistory();
    for (const h of app.history.filter(isOpen)) {
      let st;
      try {
        st = await app.client.tx_status(h.id);
      } catch {
        continue;
      }
      if (applyStatus(h, st, Date.now())) app.client.submit(h.tx).catch(() => {});
      if (h.id === app.tracking) renderStatus(h);
      if (h.kind === 'faucet' && h.status === 'finalized') setText('faucet-status', '', 'hint');
    }
    supersede(app.history);
    const tracked = app.history.find((x) => x.id === app.tracking);
    if (tracked) renderStatus(tracked);
    saveHistory();
    renderHistory();
  } finally {
    refreshing = false;
  }
}

/// The status screen of a transaction this device sent.
export function trackStatus(id) {
  app.tracking = id;
  setText('status-actions-hint', '', 'hint');
  const h = app.history.find((x) => x.id === id);
  setText('status-summary', `${KIND[h.kind]} ${fmt(h.amount)}${h.to && h.kind !== 'cancel' ? ` to ${h.to}` : ''} (fee ${fmt(h.fee)})`);
  setText('status-detail', `transaction ${id}`);
  renderStatus(h);
  show('status');
}

function renderStatus(h) {
  const order = ['pending', 'included', 'finalized'];
  const at = order.indexOf(h.status);
  for (const li of document.querySelectorAll('#steps li')) {
    const i = order.indexOf(li.dataset.step);
    li.className = i < at || (i === at && h.status === 'finalized') ? 'done' : i === at ? 'current' : '';
    const note = li.querySelector('span:not(.step-text)');
    // Past the pool, the first step reads as done, not as still waiting.
    if (li.dataset.step === 'pending') {
      const waiting = h.status === 'pending' || h.status === 'replaced';
      li.querySelector('.step-text').textContent = waiting ? 'Sent: waiting for a block' : 'Sent';
    }
    if (li.dataset.step === 'included' && i <= at && h.height !== null) note.textContent = `(block ${h.height}, verified by proof)`;
    else if (li.dataset.step === 'finalized' && i === at) note.textContent = `(block ${h.height}, verified by proof)`;
    else note.textContent = '';
  }
  $('steps').dataset.status = h.status;
  // While only in the pool, it can be sped up or cancelled (replaced at its nonce).
  const replaceable = h.status === 'pending' && Boolean(h.tx) && h.nonce !== null;
  $('status-actions').hidden = !replaceable;
  if (!replaceable) setText('status-actions-hint', '', 'hint');
  else if ($('status-actions-hint').className !== 'hint bad') {
    const fee = fmt(replacementFee(h.fee, app.params.min_fee));
    setText('status-actions-hint', `Speed up: the same, with a fee of ${fee}. Cancel: ${fmt(1n)} to yourself in its place, with a fee of ${fee}. A block may still include this one first.`, 'hint');
  }
  if (h.status === 'dropped') setText('status-summary', 'The relays dropped this transaction. It was not sent; you can try again.');
  else if (h.status === 'superseded') setText('status-summary', 'Not included: another transaction of yours at its nonce was finalized first (see Activity). Nothing more will be spent on this one.');
  else if (h.status !== 'finalized' && app.stalled) setText('status-summary', 'Finality has stalled: this transaction is final only once the validators finalize blocks again.');
}
