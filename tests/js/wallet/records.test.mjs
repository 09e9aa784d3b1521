// The wallet page's record of transactions (www/js/records.js): what is kept, spent, resent,
// and when an entry is called dropped. Run by `node --test tests/js/wallet/` (tests/tests/page.rs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DROPPED_AFTER_MS, HISTORY_LEN, LISTED_TTL_MS, RESEND_MS, applyStatus, available, displayOrder,
  expireListed, fromStored, isDust, isLookalike, isOpen, knownAddresses, listedEntries, nextNonce,
  pendingSpend, replaceEntry, replacementFee, sentEntry, supersede, statusText, toStored,
} from '../../../www/js/records.js';

const ME = 'meme1me';
const sent = (over) => ({
  ...sentEntry({ id: 'a', kind: 'transfer', to: 'meme1bob', amount: 100n, fee: 1n, nonce: 0n, tx: 'aa' }, 0),
  ...over,
});

test('a pending entry moves on only by proved states', () => {
  const h = sent();
  assert.equal(applyStatus(h, { status: 'included', verified: false, unknown_at: [] }, 1), false);
  assert.equal(h.status, 'pending', 'an unproved inclusion changes nothing');
  applyStatus(h, { status: 'included', verified: true, height: 7n, unknown_at: [] }, 2);
  assert.deepEqual([h.status, h.verified, h.height], ['included', true, 7n]);
  applyStatus(h, { status: 'finalized', verified: true, height: 7n, unknown_at: [] }, 3);
  assert.equal(statusText(h), '✓ finalized in block 7');
});

test('a listed entry becomes a record only by a proof', () => {
  const h = sent({ status: 'listed', tx: undefined });
  applyStatus(h, { status: 'pending', verified: false, unknown_at: [] }, 1);
  assert.equal(h.status, 'listed');
  applyStatus(h, { status: 'included', verified: true, height: 3n, unknown_at: [] }, 1);
  assert.equal(h.status, 'included');
});

test('a transaction some relays lack is resent, at most every RESEND_MS, and dropped only when none has it', () => {
  const h = sent();
  const somewhere = { status: 'pending', verified: false, unknown_at: ['ws://b'] };
  assert.equal(applyStatus(h, somewhere, 1000), true, 'a relay lacks it: send again');
  assert.equal(applyStatus(h, somewhere, 1000 + RESEND_MS - 1), false, 'not again so soon');
  assert.equal(applyStatus(h, somewhere, 1000 + RESEND_MS), true);
  assert.equal(h.status, 'pending');
  const nowhere = { status: 'unknown', verified: false, unknown_at: ['ws://a', 'ws://b'] };
  applyStatus(h, nowhere, DROPPED_AFTER_MS);
  assert.equal(h.status, 'pending', 'not dropped before DROPPED_AFTER_MS');
  applyStatus(h, nowhere, DROPPED_AFTER_MS + 1);
  assert.equal(h.status, 'dropped');
});

test('listed entries are checked against their bytes and expire unproven', () => {
  const describe = (tx) => {
    if (tx === 'bad') throw new Error('not a transaction');
    return JSON.parse(tx);
  };
  const tx = (t) => JSON.stringify(t);
  const mine = { id: 'x1', kind: 'transfer', sender: ME, to: 'meme1bob', amount: 5n.toString(), fee: '1', nonce: '0' };
  const txs = [
    { tx_id: 'x1', tx: tx(mine) },
    { tx_id: 'x1', tx: tx(mine) }, // listed twice
    { tx_id: 'lie', tx: tx({ ...mine, id: 'x2' }) }, // id does not match its bytes
    { tx_id: 'x3', tx: tx({ ...mine, id: 'x3', sender: 'meme1eve', to: 'meme1carol' }) }, // not this account's
    { tx_id: 'x4', tx: 'bad' },
    { tx_id: 'x5', tx: tx({ ...mine, id: 'x5', sender: 'meme1eve', to: ME }) },
  ];
  const added = listedEntries([], txs, ME, describe, 0);
  assert.deepEqual(added.map((h) => [h.id, h.kind, h.status]), [['x1', 'transfer', 'listed'], ['x5', 'received', 'listed']]);
  assert.equal(added[1].from, 'meme1eve');
  assert.deepEqual(listedEntries(added, txs, ME, describe, 0), [], 'nothing new the second time');
  assert.equal(expireListed(added, LISTED_TTL_MS - 1).length, 2);
  assert.equal(expireListed(added, LISTED_TTL_MS).length, 0);
  assert.deepEqual(toStored(added), [], 'never stored unproven');
});

test('stored entries round-trip, newest HISTORY_LEN only', () => {
  const many = Array.from({ length: HISTORY_LEN + 5 }, (_, i) => sent({ id: `t${i}`, nonce: BigInt(i), height: i % 2 ? BigInt(i) : null }));
  const back = fromStored(JSON.parse(JSON.stringify(toStored(many))));
  assert.equal(back.length, HISTORY_LEN);
  assert.deepEqual(back[3], many[3]);
});

test('spent, available and the next nonce count what is on the way, not what was dropped', () => {
  const account = { balance: 1000n, nonce: 2n, stake: 50n };
  const history = [
    sent({ id: 'old', nonce: 1n }), // in the finalized state already
    sent({ id: 'b', nonce: 2n, amount: 100n, fee: 1n }),
    sent({ id: 'c', nonce: 3n, kind: 'unstake', amount: 40n, fee: 1n }),
    sent({ id: 'd', nonce: 4n, status: 'dropped', amount: 500n }),
    sent({ id: 'e', nonce: null, kind: 'faucet', amount: 10n }),
  ];
  assert.equal(pendingSpend(history, account), 102n);
  assert.equal(available(history, account), 898n);
  assert.equal(nextNonce(history, account), 4n);
  assert.equal(available([sent({ nonce: 2n, amount: 5000n })], account), 0n, 'never negative');
});

test('address poisoning: look-alikes and dust from new senders', () => {
  const paid = 'meme1qqqqabcdefghijklmnopzzzz';
  const known = knownAddresses([sent({ to: paid })]);
  assert.equal(isLookalike(known, 'meme1qqqqXXXXXXXXXXXXXXXXzzzz'), true);
  assert.equal(isLookalike(known, paid), false);
  const received = (from, amount) => ({ kind: 'received', from, amount });
  assert.equal(isDust(received('meme1new', 999n), known, 1n), true);
  assert.equal(isDust(received('meme1new', 1000n), known, 1n), false);
  assert.equal(isDust(received(paid, 1n), known, 1n), false, 'not from someone this wallet paid');
});

test('activity order: not yet in a block first, then by height', () => {
  const order = displayOrder([
    sent({ id: 'h1', height: 1n }), sent({ id: 'p', height: null, time: 5 }), sent({ id: 'h9', height: 9n }),
  ]).map((h) => h.id);
  assert.deepEqual(order, ['p', 'h9', 'h1']);
});

test('a pending transaction replaced (sped up or cancelled) is spent once, and only a proof revives it', () => {
  const account = { balance: 1000n, nonce: 0n, stake: 0n };
  const first = sent();
  let history = [first];
  assert.equal(available(history, account), 899n);
  const faster = { id: 'b', kind: 'transfer', to: 'meme1bob', amount: 100n, fee: 2n, nonce: 0n, tx: 'bb' };
  history = replaceEntry(history, 'a', faster, 5);
  assert.deepEqual(history.map((h) => [h.id, h.status]), [['b', 'pending'], ['a', 'replaced']]);
  assert.equal(available(history, account), 898n, 'the replaced one is not spent as well');
  assert.equal(nextNonce(history, account), 1n, 'the replacement takes the same nonce');
  assert.equal(statusText(first), 'replaced by a higher fee');
  // Still asked about: a block may include it after all. Its pool's word does not revive it,
  // and it is not sent again; a proof of inclusion does.
  assert.equal(applyStatus(first, { status: 'pending', verified: false, unknown_at: ['ws://x'] }, 6), false);
  assert.equal(first.status, 'replaced');
  applyStatus(first, { status: 'included', verified: true, height: 9n, unknown_at: [] }, 7);
  assert.equal(first.status, 'included');
  assert.throws(() => replaceEntry(history, 'nope', faster, 8), /no transaction/);
  assert.equal(replacementFee(10n, 1n), 20n);
  assert.equal(replacementFee(1n, 5n), 6n, 'at least the minimum fee more');
});

test('once one transaction at a nonce is finalized, the others at it are superseded: closed, not spent, never "try again"', () => {
  const account = { address: ME, balance: 1000n, nonce: 0n, stake: 0n };
  const first = sent();
  let history = replaceEntry([first], 'a', { id: 'c', kind: 'cancel', to: ME, amount: 1n, fee: 2n, nonce: 0n, tx: 'cc' }, 5);
  const cancel = history[0];
  // The original wins the race: a block includes it and finality proves it.
  applyStatus(first, { status: 'finalized', verified: true, height: 9n, unknown_at: [] }, 6);
  history = supersede(history);
  assert.equal(cancel.status, 'superseded');
  assert.equal(isOpen(cancel), false, 'no longer asked about, so never called dropped');
  assert.match(statusText(cancel), /another transaction at its nonce/);
  assert.equal(pendingSpend(history, { ...account, nonce: 1n }), 0n);
  // A replaced entry the winner leaves behind is closed too.
  const a2 = sent({ id: 'x', nonce: 3n });
  let h2 = replaceEntry([a2], 'x', { id: 'y', kind: 'transfer', to: 'meme1bob', amount: 100n, fee: 2n, nonce: 3n, tx: 'yy' }, 1);
  applyStatus(h2[0], { status: 'finalized', verified: true, height: 12n, unknown_at: [] }, 2);
  h2 = supersede(h2);
  assert.equal(a2.status, 'superseded');
});

test('a replacement is recorded even if the old entry moved on while it was sent', () => {
  const old = sent();
  old.status = 'included';
  const history = replaceEntry([old], 'a', { id: 'b', kind: 'transfer', to: 'meme1bob', amount: 100n, fee: 2n, nonce: 0n, tx: 'bb' }, 5);
  assert.deepEqual(history.map((h) => [h.id, h.status]), [['b', 'pending'], ['a', 'included']]);
});

test('a payment to oneself spends only its fee', () => {
  const account = { address: ME, balance: 1000n, nonce: 0n, stake: 0n };
  const self = sent({ to: ME, amount: 500n, fee: 3n });
  const cancel = sent({ id: 'c', kind: 'cancel', to: ME, amount: 1n, fee: 4n, nonce: 1n });
  assert.equal(pendingSpend([self, cancel], account), 7n);
});
