// What sending and staking share: amount fields, what is available, the review screen, and
// signing and submitting the reviewed transaction.

import * as w from '../pkg/memecoin_wasm.js';
import { nameLabel, nameOf } from './accounts.js';
import { errorMessage } from './format.js';
import { record, replaced, trackStatus } from './history.js';
import * as records from './records.js';
import { app } from './state.js';
import { $, fmt, setAddress, setText, show } from './ui.js';

/// Parses an amount field: a BigInt, or sets the field's message and returns null. A valid
/// amount leaves `okText` (a standing hint, such as the minimum fee) as the message.
export function amountField(inputId, checkId, { allowZero = false, okText = '' } = {}) {
  const input = $(inputId);
  const text = input.value.trim();
  let units = null;
  let msg = '';
  if (!text) {
    msg = 'Enter an amount.';
  } else {
    try {
      units = w.parse_amount(text);
      if (units === 0n && !allowZero) {
        units = null;
        msg = 'The amount must be more than 0.';
      }
    } catch (e) {
      msg = errorMessage(e);
    }
  }
  input.setAttribute('aria-invalid', String(units === null));
  if (checkId) setText(checkId, msg || okText, msg ? 'hint bad' : 'hint');
  return units;
}

/// The fee field: an amount that may be 0 here (the minimum is checked at Review), with the
/// minimum fee kept in view below it.
export function feeField(inputId, checkId) {
  return amountField(inputId, checkId, { allowZero: true, okText: `Minimum fee: ${fmt(app.params.min_fee)}` });
}

/// What the verified account can spend now, or null before it is verified.
export function available() {
  return app.account ? records.available(app.history, app.account) : null;
}

/// Whether core's rules let this account pay for it (`check_spend`: amount and fee from what
/// is available, an unstake from the bonded stake).
export function affordable(kind, amount, fee, avail) {
  try {
    w.check_spend(kind, amount, fee, avail, app.account.stake);
    return true;
  } catch {
    return false;
  }
}

export function minFeeText() {
  return w.format_amount(app.params.min_fee);
}

export function review(action) {
  app.action = action;
  const rows = [];
  if (action.kind === 'transfer') {
    rows.push(['Send', fmt(action.amount)], ['To', action.to]);
    const named = nameOf(action.to, app.accounts, app.contacts);
    if (named) rows.push(['Recipient', nameLabel(named)]);
    if (app.requestMemo) rows.push(['Payee\'s note', `${app.requestMemo} (shown to you, not sent)`]);
  } else if (action.kind === 'stake') {
    rows.push(['Stake', fmt(action.amount)]);
  } else {
    const p = app.params;
    rows.push(['Unstake', fmt(action.amount)], ['Paid back', `after ${p.unbonding_epochs} epochs`]);
  }
  rows.push(['Fee', fmt(action.fee)]);
  const next = records.nextNonce(app.history, app.account);
  if (action.nonce !== null && action.nonce !== undefined) {
    rows.push(['Nonce', `${action.nonce} (set by hand; next is ${next})`]);
    if (action.nonce > next) rows.push(['Note', `It waits until nonces ${next} to ${action.nonce - 1n} are included; later sends wait behind it.`]);
    const pending = app.history.find((h) => h.nonce === action.nonce && h.status === 'pending');
    if (pending) rows.push(['Note', `It replaces your pending transaction at this nonce if its fee is higher (${fmt(pending.fee)} now).`]);
  }
  if (action.kind !== 'unstake') rows.push(['Total', fmt(action.amount + action.fee)]);
  rows.push(['From', app.address], ['Account', app.accounts.list[app.accounts.selected].name], ['Network', app.chainName]);
  // The outcome, computed by core against the proven account (less this device's pending
  // transactions): what is left, or why the chain would refuse it.
  const outcome = preview(action);
  if (outcome.after) {
    rows.push(['Balance after', fmt(outcome.after.balance)]);
    if (action.kind !== 'transfer') rows.push(['Staked after', fmt(outcome.after.stake)]);
  } else {
    rows.push(['Outcome', `will be refused: ${outcome.refused}`]);
  }
  if (action.kind === 'transfer' && action.to === app.address) {
    rows.push(['Note', 'This is your own address: only the fee leaves your balance.']);
  }
  $('review').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.dataset.row = k;
    if (k === 'To' || k === 'From') setAddress(dd, v);
    else dd.textContent = v;
    return [dt, dd];
  }));
  setText('review-error', '');
  $('confirm').disabled = Boolean(outcome.refused);
  show('review');
}

/// Core's `sender_after` on the action: `{ after: { balance, stake } }` or `{ refused }`, with
/// what is available after this device's pending transactions. A nonce set by hand below the
/// proven account's is used (core refuses it); at or above it, it is previewed as it will
/// apply once the nonces before it are in (it may fill a gap, or replace a pending one).
function preview(action) {
  const acc = app.account;
  const byHand = action.nonce !== null && action.nonce !== undefined;
  const nonce = byHand ? action.nonce : records.nextNonce(app.history, acc);
  const next = byHand && nonce < acc.nonce ? acc.nonce : nonce;
  try {
    const after = w.preview_tx(app.genesisJson, action.kind, app.publicKey, action.to || '',
      action.amount, action.fee, nonce, next, available(), acc.stake, acc.unbonding.length,
      acc.slashed);
    return { after };
  } catch (e) {
    return { refused: errorMessage(e) };
  }
}

/// Signs the reviewed transaction (in wasm, with the unlocked phrase) and sends it to every
/// connected relay.
export async function confirmAction() {
  const a = app.action;
  if (!a || !app.phrase || app.watchOnly) return;
  $('confirm').disabled = true;
  if (app.alarm) {
    setText('review-error', 'This wallet has stopped after conflicting finality: nothing is signed.', 'error');
    return;
  }
  setText('review-error', 'Signing and sending…', 'hint');
  try {
    const nonce = a.nonce ?? records.nextNonce(app.history, app.account);
    const signed = sign(a, nonce);
    const result = await app.client.submit(signed.tx);
    if (!result.accepted) {
      setText('review-error', `The relay refused the transaction: ${result.reason}`, 'error');
      return;
    }
    // The signed transaction is kept (it is public once sent) to send again to relays that do
    // not have it while none has included it.
    const entry = { id: signed.id, kind: a.kind, to: a.to || null, amount: a.amount, fee: a.fee, nonce, tx: signed.tx, register: Boolean(a.register) };
    // At the nonce of a pending one (set by hand), a relay took it as that one's replacement.
    const pending = app.history.find((h) => h.nonce === nonce && h.status === 'pending');
    if (pending) replaced(pending.id, entry);
    else record(entry);
    app.action = null;
    trackStatus(signed.id);
  } catch (e) {
    setText('review-error', `Could not send: ${errorMessage(e)}`, 'error');
  } finally {
    $('confirm').disabled = false;
  }
}

/// Signs action `a` at `nonce` with the unlocked phrase and passphrase, with the selected
/// account's key (m/44'/7337'/account'/0'/0', in wasm).
function sign(a, nonce) {
  const k = [app.phrase, app.passphrase, app.accountIndex, 0];
  if (a.kind === 'transfer' || a.kind === 'cancel') {
    return w.sign_transfer(...k, app.chainId, nonce, a.fee, a.to, a.amount);
  }
  if (a.kind === 'stake') {
    // A stake that registers the key carries its first commitment (decided at review by
    // core's `check_stake` on the proven registry); one that adds to a registration, none.
    const commitment = a.register ? w.stake_commitment(...k) : '0'.repeat(64);
    return w.sign_stake(...k, app.chainId, nonce, a.fee, a.amount, commitment);
  }
  return w.sign_unstake(...k, app.chainId, nonce, a.fee, a.amount);
}

/// Replaces the pending transaction on the status screen, at its nonce and with a higher fee:
/// `speed-up` sends the same again, `cancel` sends the smallest amount to this address instead
/// (core refuses a transfer of 0). A block may still include the first: both are followed.
export async function replacePending(mode) {
  const h = app.history.find((x) => x.id === app.tracking);
  if (!h || h.status !== 'pending' || !app.phrase || app.alarm || app.watchOnly) return;
  const fee = records.replacementFee(h.fee, app.params.min_fee);
  const a = mode === 'cancel'
    ? { kind: 'cancel', to: app.address, amount: 1n, fee }
    : { kind: h.kind, to: h.to, amount: h.amount, fee, register: h.register };
  for (const b of ['speed-up', 'cancel-tx']) $(b).disabled = true;
  setText('status-actions-hint', 'Signing and sending…', 'hint');
  try {
    const signed = sign(a, h.nonce);
    const result = await app.client.submit(signed.tx);
    if (!result.accepted) {
      setText('status-actions-hint', `The relay refused the replacement: ${result.reason}`, 'hint bad');
      return;
    }
    replaced(h.id, { id: signed.id, kind: a.kind, to: a.to || null, amount: a.amount, fee, nonce: h.nonce, tx: signed.tx, register: Boolean(a.register) });
    trackStatus(signed.id);
  } catch (e) {
    setText('status-actions-hint', `Could not send: ${errorMessage(e)}`, 'hint bad');
  } finally {
    for (const b of ['speed-up', 'cancel-tx']) $(b).disabled = false;
  }
}
