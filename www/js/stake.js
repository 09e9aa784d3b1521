// The stake screen: stake or unstake, with the unbonding delay spelled out.

import * as w from '../pkg/memecoin_wasm.js';
import { duration, errorMessage } from './format.js';
import { affordable, amountField, available, minFeeText, review } from './review.js';
import { app } from './state.js';
import { $, currentEpoch, fmt, setText, show } from './ui.js';

export function openStake() {
  $('stake-form').reset();
  for (const id of ['stake-check', 'stake-error']) setText(id, '');
  $('stake-fee').value = minFeeText();
  const p = app.params;
  const slotS = Number(p.slot_ms) / 1000;
  const epochS = slotS * Number(p.slots_per_epoch);
  const now = currentEpoch();
  setText('unbonding-delay', `${p.unbonding_epochs} epochs (about ${duration(Number(p.unbonding_epochs) * epochS)}; an epoch is ${p.slots_per_epoch} slots of ${slotS} s${now === null ? '' : `; this is epoch ${now}`})`);
  const avail = available();
  setText('stake-available', avail === null ? 'Available: not verified yet'
    : `Available: ${fmt(avail)} · staked: ${fmt(app.account.stake)}`, 'hint');
  show('stake');
}

function stakeKind() {
  return document.querySelector('input[name="stake-kind"]:checked').value;
}

export function stakeMax() {
  const fee = amountField('stake-fee', null, { allowZero: true });
  if (fee === null || !app.account) return;
  const max = stakeKind() === 'stake' ? available() - fee : app.account.stake;
  $('stake-amount').value = w.format_amount(max > 0n ? max : 0n);
  amountField('stake-amount', 'stake-check');
}

export async function reviewStake(ev) {
  ev.preventDefault();
  setText('stake-error', '');
  const kind = stakeKind();
  const amount = amountField('stake-amount', 'stake-check');
  const fee = amountField('stake-fee', null, { allowZero: true });
  if (amount === null) return;
  if (fee === null) return setText('stake-error', 'The fee is not a valid amount.');
  if (fee < app.params.min_fee) return setText('stake-error', `The fee must be at least ${fmt(app.params.min_fee)}.`);
  if (!app.account || app.accountProblem) return setText('stake-error', 'Your balance is not verified yet.');
  const avail = available();
  if (kind === 'stake') {
    if (!affordable('stake', amount, fee, avail)) return setText('stake-error', `Insufficient funds: ${fmt(amount + fee)} needed, ${fmt(avail)} available.`);
    // Whether this stake registers the key (and must carry its first commitment) is core's
    // rule on the registry, read from a proven chain meta: not guessed from the stake shown.
    setText('stake-error', 'Checking the validator registry…', 'hint');
    let registered;
    // A relay whose finalized block is not this wallet's yet is asked again a moment later.
    for (let attempt = 1; registered === undefined; attempt += 1) {
      try {
        registered = await app.client.registration(app.publicKey);
      } catch (e) {
        if (attempt >= 3) return setText('stake-error', `The validator registry could not be verified: ${errorMessage(e)}`, 'error');
        await new Promise((resolve) => { setTimeout(resolve, 1000); });
      }
    }
    let register;
    try {
      register = w.check_stake(registered, app.account.stake, amount, app.params.min_stake);
    } catch {
      return setText('stake-error', `A first stake must be at least ${fmt(app.params.min_stake)}, with what is already bonded.`, 'error');
    }
    setText('stake-error', '', 'error');
    return review({ kind, amount, fee, register });
  } else if (!affordable('unstake', amount, fee, avail)) {
    return setText('stake-error', amount > app.account.stake
      ? `You have ${fmt(app.account.stake)} staked.`
      : `Insufficient funds for the fee: ${fmt(avail)} available.`);
  }
  review({ kind, amount, fee });
}
