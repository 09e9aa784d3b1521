// What the page may show as fact. Pure (no DOM, no wasm): account.js renders it;
// tests/js/wallet/ checks it.
//
// Two verified readings of the account exist: at the highest finalized block read (covered by
// a finality proof) and in a block above it (proven by its proposer's signature only). Only the
// first is "finalized"; the second is shown apart, as not final, and only while it is above.

/// Where a newly verified account `acc` goes: `{ account, headAccount }` after it, or `null`
/// when it is older than what is shown and changes nothing.
export function placeAccount({ account, headAccount }, acc) {
  if (acc.finalized) {
    if (account && acc.at.height < account.at.height) return null;
    const keepHead = headAccount && headAccount.at.height > acc.at.height ? headAccount : null;
    return { account: acc, headAccount: keepHead };
  }
  if (account && acc.at.height <= account.at.height) return null;
  return { account, headAccount: acc };
}

/// The head state to show beside the finalized number, or `null`: none while the wallet has
/// stopped or the account failed verification, and none that is not above the finalized one.
export function shownHead({ account, headAccount, alarm, accountProblem }) {
  const above = headAccount && (!account || headAccount.at.height > account.at.height);
  return above && !alarm && !accountProblem ? headAccount : null;
}

/// The badge over the balance: `{ cls, text, title }`. `ageText` says how long ago the shown
/// state was finalized (or is null when unknown); `stalled` is core's rule (no finality for
/// more than 3 epochs).
export function badge({ account, accountProblem, accountWaiting, alarm, stalled, ageText }) {
  if (accountProblem) return { cls: 'badge unverified', text: `not verified: ${accountProblem}`, title: '' };
  if (!account) {
    const text = alarm ? 'stopped: conflicting finality'
      : stalled ? 'nothing finalized to show: finality has stalled' : 'verifying…';
    return { cls: 'badge verifying', text, title: accountWaiting || '' };
  }
  const h = account.at.height;
  if (alarm) return { cls: 'badge unverified', text: `stopped: conflicting finality (last finalized height ${h})`, title: '' };
  const title = ageText ? `finalized ${ageText} ago` : '';
  if (ageText && stalled) {
    return { cls: 'badge verifying', text: `verified, finalized at height ${h} — ${ageText} ago: finality has stalled`, title };
  }
  return { cls: 'badge verified', text: `verified, finalized at height ${h}`, title };
}
