// The send screen: recipient (checked, and compared with addresses paid before), amount, fee.

import * as w from '../pkg/memecoin_wasm.js';
import { errorMessage, groupAddress } from './format.js';
import { nameLabel, nameOf } from './accounts.js';
import { isLookalike, knownAddresses } from './records.js';
import { affordable, amountField, available, feeField, minFeeText, review } from './review.js';
import * as records from './records.js';
import { app } from './state.js';
import { $, fmt, setText, show } from './ui.js';

/// Bech32's characters after the `1`: what a half-typed address may hold so far.
const BECH32 = /^[02-9ac-hj-np-z]*$/;

/// Whether `text` can still become an address by typing on: a start of `meme1`, or `meme1`
/// and fewer characters than an address has, all of them allowed. The checksum cannot be known
/// until the last character, so it is not called wrong before.
export function unfinished(text, length) {
  const prefix = 'meme1';
  const t = text.toLowerCase();
  if (t.length < prefix.length) return prefix.startsWith(t);
  return t.startsWith(prefix) && t.length < length && BECH32.test(t.slice(prefix.length));
}

/// Checks an address field (`inputId`, its message in `checkId`): while typing (`live`), an
/// address not finished yet is counted, not refused. Returns the address (lower case) or null.
export function addressCheck(inputId, checkId, live) {
  const input = $(inputId);
  const text = input.value.trim();
  if (!text) {
    setText(checkId, '', 'hint');
    return null;
  }
  const length = 43;
  if (live === true && unfinished(text, length)) {
    setText(checkId, `${text.length} of ${length} characters`, 'hint');
    input.setAttribute('aria-invalid', 'false');
    return null;
  }
  try {
    w.parse_address(text);
    setText(checkId, '✓ valid address (checksum correct)', 'hint ok');
    input.setAttribute('aria-invalid', 'false');
    return text.toLowerCase();
  } catch (e) {
    setText(checkId, `Not a valid address: ${errorMessage(e)}`, 'hint bad');
    input.setAttribute('aria-invalid', 'true');
    return null;
  }
}

/// A `meme:` payment request pasted into the recipient field (PROTOCOL.md §5.6): the address
/// and amount fill their fields, the memo is shown as the payee's note (it is not sent: a
/// transaction has no memo). Returns whether the text was a request it could read.
function fillFromRequest(text) {
  let r;
  try {
    r = w.parse_payment_uri(text);
  } catch (e) {
    const msg = errorMessage(e);
    setText('to-check', msg.startsWith('payment request') ? `Not valid: ${msg}` : `Not a valid payment request: ${msg}`, 'hint bad');
    $('to').setAttribute('aria-invalid', 'true');
    return false;
  }
  $('to').value = r.address;
  if (r.amount !== undefined) {
    $('amount').value = w.format_amount(r.amount);
    amountField('amount', 'amount-check');
  } else if (app.requestAddress !== null) {
    // The amount came with the previous request, not from this one.
    $('amount').value = '';
    setText('amount-check', '');
  }
  app.requestMemo = r.memo;
  app.requestAddress = r.address;
  setText('send-memo', r.memo ? `Note from the payee (not sent with the payment): ${r.memo}` : '', 'hint');
  return true;
}

/// Checks the recipient field. While typing (`live`), an address not finished yet is counted,
/// not refused; Review refuses it. A known address is named (one of this wallet's accounts, or
/// a contact); an unknown valid one can be saved as a contact.
export function checkRecipient(live = false) {
  const text = $('to').value.trim();
  $('to-save').hidden = true;
  // A request's note belongs to its payee: another recipient typed or picked drops it.
  if (app.requestMemo && !/^meme:/i.test(text) && text.toLowerCase() !== app.requestAddress) {
    app.requestMemo = '';
    app.requestAddress = null;
    setText('send-memo', '', 'hint');
  }
  if (/^meme:/i.test(text) && !fillFromRequest(text)) return null;
  const address = addressCheck('to', 'to-check', live);
  if (address === null) return null;
  const known = knownAddresses(app.history);
  const named = nameOf(address, app.accounts, app.contacts);
  const paid = known.has(address) ? ', paid before' : '';
  if (address === app.address) {
    setText('to-check', '⚠ This is your own address: the coins would come back to you, less the fee.', 'hint warn');
  } else if (named) {
    setText('to-check', `✓ ${nameLabel(named)} (checksum correct${paid})`, 'hint ok');
  } else if (isLookalike(known, address)) {
    setText('to-check', `⚠ This address looks like one you paid before but is not the same: ${groupAddress(address)}. Compare every group.`, 'hint bad');
  } else if (!known.has(address)) {
    setText('to-check', `✓ valid address (checksum correct) — you have not paid it before: ${groupAddress(address)}`, 'hint ok');
  } else {
    setText('to-check', '✓ valid address (checksum correct), paid before', 'hint ok');
  }
  $('to-save').hidden = Boolean(named) || address === app.address;
  return address;
}

/// The contact picker: the address book, then this wallet's other accounts.
function renderPicker() {
  const option = (value, label) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    return o;
  };
  const others = app.accounts.list.filter((a) => a.address !== app.address);
  $('to-contact').replaceChildren(option('', 'Pick a contact or account…'),
    ...app.contacts.map((c) => option(c.address, c.name)),
    ...others.map((a) => option(a.address, `${a.name} (your account${a.watch ? ', watch-only' : ''})`)));
}

export function pickRecipient() {
  const address = $('to-contact').value;
  if (!address) return;
  $('to').value = address;
  checkRecipient();
}

export function openSend() {
  $('send-form').reset();
  for (const id of ['to-check', 'amount-check', 'send-error', 'send-memo']) setText(id, '');
  app.requestMemo = '';
  app.requestAddress = null;
  $('to-save').hidden = true;
  renderPicker();
  $('fee').value = minFeeText();
  setText('fee-check', `Minimum fee: ${fmt(app.params.min_fee)}`, 'hint');
  showAvailable('send-available');
  $('send-advanced').open = false;
  const next = app.account ? records.nextNonce(app.history, app.account) : null;
  $('nonce').placeholder = next === null ? '' : `next: ${next}`;
  setText('nonce-check', next === null ? '' : `Empty: the next nonce, ${next}. The same nonce as a pending transaction replaces it if the fee is higher; a used one is refused; a higher one waits for those before it.`, 'hint');
  show('send');
}

/// What the verified account can spend, above the amount field.
export function showAvailable(id) {
  const avail = available();
  setText(id, avail === null ? 'Available: not verified yet' : `Available: ${fmt(avail)}`, 'hint');
}

export function sendMax() {
  const fee = feeField('fee', 'fee-check');
  const avail = available();
  if (fee === null || avail === null) return;
  const max = avail - fee;
  $('amount').value = w.format_amount(max > 0n ? max : 0n);
  amountField('amount', 'amount-check');
}

export function reviewSend(ev) {
  ev.preventDefault();
  setText('send-error', '');
  const to = checkRecipient();
  if (to === null) {
    setText('to-check', $('to').value.trim() ? $('to-check').textContent : 'Enter the recipient\'s address.', 'hint bad');
  }
  const amount = amountField('amount', 'amount-check');
  const fee = feeField('fee', 'fee-check');
  const nonceText = $('nonce').value.trim();
  if (nonceText && !/^\d{1,19}$/.test(nonceText)) {
    $('send-advanced').open = true;
    $('nonce').setAttribute('aria-invalid', 'true');
    return setText('nonce-check', 'A nonce is a whole number (or empty, for the next one).', 'hint bad');
  }
  $('nonce').setAttribute('aria-invalid', 'false');
  if (to === null || amount === null || fee === null) return;
  if (fee < app.params.min_fee) return setText('fee-check', `The fee must be at least ${fmt(app.params.min_fee)}.`, 'hint bad');
  if (!app.account || app.accountProblem) return setText('send-error', 'Your balance is not verified yet: wait for the badge to say "verified".');
  const avail = available();
  if (!affordable('transfer', amount, fee, avail)) {
    return setText('send-error', `Insufficient funds: ${fmt(amount + fee)} needed (amount + fee), ${fmt(avail)} available.`);
  }
  review({ kind: 'transfer', to, amount, fee, nonce: nonceText ? BigInt(nonceText) : null });
}
