// The account: reading it through the verifying client, what is shown as finalized and what as
// not final yet, how old it is, and the alarm that stops the wallet.

import { duration, errorMessage } from './format.js';
import { alarmKey, app, store } from './state.js';
import { showAvailable } from './send.js';
import { $, currentEpoch, fmt, warn } from './ui.js';
import { badge, placeAccount, shownHead } from './verified.js';

export async function refreshAccount() {
  if (!app.address || !app.client) return;
  const address = app.address;
  try {
    const acc = await app.client.account(address);
    if (address === app.address) setAccount(acc);
  } catch (e) {
    // A proof that failed verification arrives as a `rejected` event, which hides the number.
    // Anything else (no relay yet, nothing finalized yet, a relay behind) is still "verifying".
    if (address !== app.address) return;
    app.accountWaiting = errorMessage(e);
    renderAccount();
  }
}

/// A verified account (finalized, or in a block above finality): see `placeAccount`.
export function setAccount(acc) {
  const placed = placeAccount(app, acc);
  if (!placed) return;
  app.account = placed.account;
  app.headAccount = placed.headAccount;
  app.accountProblem = null;
  renderAccount();
}

/// Conflicting finality: stop. Sending and staking are blocked, the checkpoint is no longer
/// saved, and the alarm survives a reload (per chain) until the user clears storage.
export function raiseAlarm(detail) {
  app.alarm = detail;
  try {
    store.setItem(alarmKey(), detail);
    if (app.checkpointKey) store.removeItem(app.checkpointKey);
  } catch {
    // Storage unavailable: the alarm holds for this session.
  }
  warn('alarm', 'Conflicting finality: this wallet has stopped', detail);
  $('go-send').disabled = true;
  $('go-stake').disabled = true;
  renderAccount();
}

/// How old the verified finalized state is (`age_s`), and whether finality has stalled (core's
/// rule: more than 3 epochs without new finality).
export function freshness() {
  if (!app.client) return null;
  try {
    const f = app.client.status();
    return { age_s: Number(f.age_ms) / 1000, stalled: f.stalled };
  } catch {
    return null;
  }
}

/// Finality that has not moved for epochs: say so once per stall, with its age; a payment waits
/// for it.
export function checkStall() {
  // Not while the client may still be catching up after connecting.
  if (!app.openSince || Date.now() - app.openSince < 10_000) return;
  const fresh = freshness();
  if (!fresh) return;
  if (fresh.stalled && !app.stalled) {
    warn('stall', 'Finality has stalled',
      `No block has been finalized for ${duration(fresh.age_s)}: balances shown are as of then, and new payments stay unfinalized until finality resumes.`);
  }
  if (app.stalled !== fresh.stalled) {
    app.stalled = fresh.stalled;
    renderAccount();
  }
}

export function renderAccount() {
  renderFinalAccount();
  renderHeadState();
  // What the open form offers follows the account (it may be verified after the form opened).
  if (app.screen === 'send') showAvailable('send-available');
}

/// The account in a verified block above finality, labelled as such: never the main number.
function renderHeadState() {
  const el = $('head-state');
  const head = shownHead(app);
  el.hidden = !head;
  el.textContent = head ? `In block ${head.at.height}, not final yet: balance ${fmt(head.balance)}, staked ${fmt(head.stake)}` : '';
  el.title = head ? 'signed by the block\'s proposer, not yet by a supermajority of the stake' : '';
}

function renderFinalAccount() {
  const acc = app.account;
  const fresh = acc ? freshness() : null;
  const b = badge({ ...app, ageText: fresh ? duration(fresh.age_s) : null });
  const el = $('badge');
  el.className = b.cls;
  el.textContent = b.text;
  el.title = b.title;
  const bal = $('balance');
  const stake = $('stake');
  const hidden = Boolean(app.accountProblem);
  bal.classList.toggle('hidden-number', hidden);
  stake.classList.toggle('hidden-number', hidden);
  bal.textContent = acc && !hidden ? fmt(acc.balance) : '—';
  stake.textContent = acc && !hidden ? fmt(acc.stake) : '—';
  $('unbonding').replaceChildren(...(acc && !hidden ? acc.unbonding : []).map((u) => {
    const li = document.createElement('li');
    const now = currentEpoch();
    const left = now === null ? '' : ` (this is epoch ${now}${Number(u.release_epoch) > now ? `: about ${duration(epochsLeft(u.release_epoch, now))}` : ''})`;
    li.textContent = `${fmt(u.amount)} unbonding, paid back from epoch ${u.release_epoch}${left}`;
    return li;
  }));
}

/// Seconds until epoch `release` starts, from the start of epoch `now` (rounded up to whole
/// epochs: what is shown is "about").
function epochsLeft(release, now) {
  const p = app.params;
  return (Number(release) - now) * Number(p.slots_per_epoch) * (Number(p.slot_ms) / 1000);
}
