// The send screen: recipient (checked, and compared with addresses paid before), amount, fee.

import * as w from '../pkg/memecoin_wasm.js';
import { errorMessage, groupAddress } from './format.js';
import { isLookalike, knownAddresses } from './records.js';
import { affordable, amountField, available, minFeeText, review } from './review.js';
import { app } from './state.js';
import { $, fmt, setText, show } from './ui.js';

export function checkRecipient() {
  const text = $('to').value.trim();
  if (!text) {
    setText('to-check', '', 'hint');
    return null;
  }
  try {
    w.parse_address(text);
    const address = text.toLowerCase();
    const known = knownAddresses(app.history);
    if (isLookalike(known, address)) {
      setText('to-check', `⚠ This address looks like one you paid before but is not the same: ${groupAddress(address)}. Compare every group.`, 'hint bad');
    } else if (!known.has(address)) {
      setText('to-check', `✓ valid address (checksum correct) — you have not paid it before: ${groupAddress(address)}`, 'hint ok');
    } else {
      setText('to-check', '✓ valid address (checksum correct), paid before', 'hint ok');
    }
    $('to').setAttribute('aria-invalid', 'false');
    return address;
  } catch (e) {
    setText('to-check', `Not a valid address: ${errorMessage(e)}`, 'hint bad');
    $('to').setAttribute('aria-invalid', 'true');
    return null;
  }
}

export function openSend() {
  $('send-form').reset();
  for (const id of ['to-check', 'amount-check', 'send-error']) setText(id, '');
  $('fee').value = minFeeText();
  setText('fee-check', `Minimum fee: ${fmt(app.params.min_fee)}`, 'hint');
  show('send');
}

export function sendMax() {
  const fee = amountField('fee', 'fee-check', { allowZero: true });
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
  const fee = amountField('fee', 'fee-check', { allowZero: true });
  if (to === null || amount === null || fee === null) return;
  if (fee < app.params.min_fee) return setText('fee-check', `The fee must be at least ${fmt(app.params.min_fee)}.`, 'hint bad');
  if (!app.account || app.accountProblem) return setText('send-error', 'Your balance is not verified yet: wait for the badge to say "verified".');
  const avail = available();
  if (!affordable('transfer', amount, fee, avail)) {
    return setText('send-error', `Insufficient funds: ${fmt(amount + fee)} needed (amount + fee), ${fmt(avail)} available.`);
  }
  review({ kind: 'transfer', to, amount, fee });
}
