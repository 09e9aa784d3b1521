// This device's record of the account's transactions, as data: what is shown, what is kept, what
// is spent and not yet final, the next nonce, and how a verified status moves an entry on. Pure
// (no DOM, no wasm, no storage): history.js renders and stores it; tests/js/wallet/ checks it.

/// An entry of the relay's listing not proven within this time is forgotten.
export const LISTED_TTL_MS = 2 * 60 * 1000;
/// Entries kept in storage.
export const HISTORY_LEN = 50;
/// A transaction no relay has is called dropped after this long.
export const DROPPED_AFTER_MS = 10 * 60 * 1000;
/// A transaction some relays lack is sent to them again at most this often.
export const RESEND_MS = 30 * 1000;

export const KIND = {
  transfer: 'Sent', received: 'Received', faucet: 'Test coins', stake: 'Staked', unstake: 'Unstaked', evidence: 'Evidence',
  cancel: 'Cancelled (to yourself)',
};

export function statusText(h) {
  switch (h.status) {
    case 'finalized': return `✓ finalized in block ${h.height}`;
    case 'included': return `✓ included in block ${h.height}`;
    case 'dropped': return 'dropped by the relays';
    case 'replaced': return 'replaced by a higher fee';
    case 'superseded': return 'not included: another transaction at its nonce was';
    case 'listed': return 'checking its proof…';
    default: return 'pending (not yet in a block)';
  }
}

/// Not yet in a block first (newest first), then by block height, newest first.
export function displayOrder(history) {
  const rank = (h) => (h.height === null ? [1, h.time] : [0, Number(h.height)]);
  return [...history].sort((x, y) => {
    const [a, b] = [rank(x), rank(y)];
    return b[0] - a[0] || b[1] - a[1];
  });
}

/// Addresses this wallet has sent to: the ones a user means to pay again, and the ones a
/// look-alike (address poisoning) imitates.
export function knownAddresses(history) {
  const known = new Set();
  for (const h of history) if (h.kind === 'transfer' && h.to) known.add(h.to);
  return known;
}

/// An address that shares the first 9 and last 4 characters with one this wallet paid, and is
/// not it: what a poisoner plants, since a short display shows exactly those.
export function isLookalike(known, address) {
  return [...known].some((k) => k !== address
    && k.slice(0, 9) === address.slice(0, 9) && k.slice(-4) === address.slice(-4));
}

/// A payment too small to matter from a sender this wallet never paid: how poisoners plant a
/// look-alike address in the activity list. Under 1,000 times the minimum fee.
export function isDust(h, known, minFee) {
  return h.kind === 'received' && Boolean(h.from) && !known.has(h.from) && h.amount < minFee * 1000n;
}

/// What is kept on this device: only what this device sent, or what a proof covers (an entry of
/// the relay's listing is stored once its inclusion is proven, never before), newest `HISTORY_LEN`,
/// BigInts as decimal text.
export function toStored(history) {
  const text = (x) => (x === null || x === undefined ? null : String(x));
  return history.filter((h) => h.status !== 'listed').slice(0, HISTORY_LEN)
    .map((h) => ({ ...h, amount: String(h.amount), fee: String(h.fee), nonce: text(h.nonce), height: text(h.height) }));
}

export function fromStored(raw) {
  const big = (x) => (x === null || x === undefined ? null : BigInt(x));
  return raw.map((h) => ({ ...h, amount: BigInt(h.amount), fee: BigInt(h.fee), nonce: big(h.nonce), height: big(h.height) }));
}

/// A new entry for a transaction this device sent (or asked the faucet for).
export function sentEntry(entry, now) {
  return { status: 'pending', verified: false, height: null, time: now, ...entry };
}

/// `history` with the entry `id` replaced by `entry`, a transaction at the same nonce with a
/// higher fee (sped up, or cancelled by a payment to oneself): the old one, if still pending,
/// is kept as "replaced", not spent, and still asked about, since a block may include it after
/// all. The replacement is recorded whatever the old one did meanwhile: a relay took it.
export function replaceEntry(history, id, entry, now) {
  const old = history.find((h) => h.id === id);
  if (!old) throw new Error(`no transaction ${id}`);
  if (old.status === 'pending') old.status = 'replaced';
  return [sentEntry(entry, now), ...history];
}

/// Once a transaction at a nonce is finalized, every other one of this device at that nonce
/// (the one it replaced, or the replacement that lost the race) can never be included: it is
/// "superseded" — closed, not spent, and never shown as dropped ("you can try again" would make
/// a user pay twice).
export function supersede(history) {
  const won = new Map();
  for (const h of history) if (h.status === 'finalized' && h.nonce !== null) won.set(h.nonce, h.id);
  for (const h of history) {
    const winner = h.nonce === null ? undefined : won.get(h.nonce);
    if (winner !== undefined && winner !== h.id && (h.status === 'pending' || h.status === 'replaced')) {
      h.status = 'superseded';
    }
  }
  return history;
}

/// The fee that replaces a pending transaction's: twice it, and at least `minFee` more (a relay
/// replaces a pending transaction only by a higher fee).
export function replacementFee(fee, minFee) {
  return fee * 2n > fee + minFee ? fee * 2n : fee + minFee;
}

/// Entries of the relay's listing (`/api/accounts/{a}/txs`) that are new to `history`, checked
/// as far as the bytes go: `describe(tx)` (the wasm `describe_tx`) computes each id from the
/// transaction's bytes, so an entry whose id or parties do not match is left out. What remains
/// is still only the relay's word ("listed") until an inclusion proof verifies.
export function listedEntries(history, txs, address, describe, now) {
  const out = [];
  for (const item of txs) {
    if (history.some((h) => h.id === item.tx_id) || out.some((h) => h.id === item.tx_id)) continue;
    let t;
    try {
      t = describe(String(item.tx));
    } catch {
      continue;
    }
    const mine = t.sender === address;
    if (t.id !== item.tx_id || (!mine && t.to !== address)) continue;
    out.push({
      id: t.id, kind: mine ? t.kind : 'received', to: mine ? t.to : null, from: mine ? null : t.sender,
      amount: t.amount, fee: t.fee, nonce: mine ? t.nonce : null,
      status: 'listed', verified: false, height: null, time: now,
    });
  }
  return out;
}

/// The history without the listed entries that no proof covered within `LISTED_TTL_MS`.
export function expireListed(history, now) {
  return history.filter((h) => h.status !== 'listed' || now - h.time < LISTED_TTL_MS);
}

/// Whether an entry's status may still change (it is asked about again).
export function isOpen(h) {
  return h.status !== 'finalized' && h.status !== 'dropped' && h.status !== 'superseded';
}

/// Moves `h` on by a status the client reported (`tx_status`: status, verified, height,
/// unknown_at). Only proved states count; a listed entry becomes a record only by a proof.
/// Returns whether to send the transaction again: some relays lack it and none has included it
/// (one may have swallowed it), at most every `RESEND_MS`. "Dropped" only when no relay has it,
/// `DROPPED_AFTER_MS` after it was sent.
export function applyStatus(h, st, now) {
  const proved = st.status === 'included' || st.status === 'finalized';
  if (proved && !st.verified) return false;
  // The relay's word neither makes a listed entry a record nor revives a replaced one.
  if ((h.status === 'listed' || h.status === 'replaced') && !proved) return false;
  let resend = false;
  if ((st.status === 'pending' || st.status === 'unknown') && st.unknown_at.length && h.tx
    && !(h.resent > now - RESEND_MS)) {
    h.resent = now;
    resend = true;
  }
  if (st.status === 'unknown') {
    if (now - h.time > DROPPED_AFTER_MS) h.status = 'dropped';
  } else {
    h.status = st.status;
    h.verified = st.verified;
    h.height = st.height === undefined ? null : st.height;
  }
  return resend;
}

/// Coins spent by this device's transactions that the finalized `account` does not show yet.
export function pendingSpend(history, account) {
  let sum = 0n;
  for (const h of history) {
    if (h.nonce === null || h.nonce < account.nonce || !spends(h)) continue;
    // An unstake spends only its fee, and so does a payment to oneself (core credits it back).
    const toSelf = h.kind === 'cancel' || (h.to !== null && h.to === account.address);
    sum += h.fee + (h.kind === 'unstake' || toSelf ? 0n : h.amount);
  }
  return sum;
}

/// Whether an entry still spends: not dropped, replaced or superseded.
function spends(h) {
  return h.status !== 'dropped' && h.status !== 'replaced' && h.status !== 'superseded';
}

/// What the account can spend: its finalized balance less what is on the way.
export function available(history, account) {
  const a = account.balance - pendingSpend(history, account);
  return a > 0n ? a : 0n;
}

/// The nonce of the next transaction: past the finalized account's and every sent one not dropped.
export function nextNonce(history, account) {
  let n = account.nonce;
  for (const h of history) {
    if (h.nonce !== null && h.nonce >= n && h.status !== 'dropped') n = h.nonce + 1n;
  }
  return n;
}
