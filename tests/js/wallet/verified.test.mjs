// What the wallet page shows as fact (www/js/verified.js), its warnings log (warnings.js), the
// relays it uses (relays.js) and text for reading (format.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duration, groupAddress, groupThousands, shortHash } from '../../../www/js/format.js';
import { downRelays, isRefusal, netDetail, netText, relayUrls } from '../../../www/js/relays.js';
import { badge, placeAccount, shownHead } from '../../../www/js/verified.js';
import { Warnings } from '../../../www/js/warnings.js';

const at = (height, finalized, balance = 1n) => ({ at: { height }, finalized, balance, stake: 0n, unbonding: [] });

test('a head state never replaces or outranks a finalized number', () => {
  let s = { account: null, headAccount: null };
  s = placeAccount(s, at(10, true));
  assert.equal(s.account.at.height, 10);
  // A proposer-signed head far above: kept apart, the finalized number stays.
  s = placeAccount(s, at(1_000_000_000_000_000, false, 9_999n));
  assert.equal(s.account.at.height, 10);
  assert.equal(s.headAccount.balance, 9_999n);
  // A genuine finalized update below that head is not ignored.
  s = placeAccount(s, at(12, true, 5n));
  assert.equal(s.account.balance, 5n);
  assert.equal(shownHead({ ...s }), s.headAccount, 'the head is shown while above, labelled apart');
  assert.equal(shownHead({ ...s, alarm: 'x' }), null);
  assert.equal(shownHead({ ...s, accountProblem: 'forged' }), null);
  // Finality passes the head: the head state goes.
  s = placeAccount(s, at(1_000_000_000_000_000, true, 7n));
  assert.equal(s.headAccount, null);
  assert.equal(placeAccount(s, at(11, true)), null, 'an older finalized read changes nothing');
  assert.equal(placeAccount(s, at(11, false)), null, 'a head at or below finality changes nothing');
});

test('the badge says finalized only for a finalized account, with its age and a stall', () => {
  const account = at(54, true);
  assert.deepEqual(badge({ account, ageText: '4 s' }), { cls: 'badge verified', text: 'verified, finalized at height 54', title: 'finalized 4 s ago' });
  assert.equal(badge({ account, ageText: '3 min', stalled: true }).text, 'verified, finalized at height 54 — 3 min ago: finality has stalled');
  assert.equal(badge({ account, alarm: 'two finalized blocks' }).text, 'stopped: conflicting finality (last finalized height 54)');
  assert.equal(badge({ account, accountProblem: 'bad proof' }).text, 'not verified: bad proof');
  assert.equal(badge({ account: null }).text, 'verifying…');
  assert.equal(badge({ account: null, stalled: true }).text, 'nothing finalized to show: finality has stalled');
});

test('warnings: the newest of each kind in view, every one in a bounded log', () => {
  const w = new Warnings(3);
  w.add('rejected:a:account', 'forged balance', '1', 1);
  w.add('rejected:a:account', 'forged balance', '2', 2);
  w.add('rejected:a:finality', 'forged certificate', '3', 3);
  assert.deepEqual([...w.current.values()].map((x) => x.detail), ['2', '3']);
  assert.deepEqual(w.log.map((x) => x.detail), ['3', '2', '1'], 'the earlier lie is still in the log');
  w.add('k', 't', '4', 4);
  assert.deepEqual(w.log.map((x) => x.detail), ['4', '3', '2']);
});

test('relays: asked for, pinned in a bundle, or the serving host', () => {
  const loc = { protocol: 'https:', host: 'wallet.example' };
  assert.deepEqual(relayUrls('?relay=wss://a/ws&relay=javascript:x&relay=ws://b/ws', null, loc), ['wss://a/ws', 'ws://b/ws']);
  assert.deepEqual(relayUrls('', { relays: ['wss://a/ws'], sources: ['wss://s/ws', 'wss://a/ws'] }, loc), ['wss://a/ws', 'wss://s/ws']);
  assert.deepEqual(relayUrls('', null, loc), ['wss://wallet.example/ws']);
  const relays = new Map([
    ['ws://a', { state: 'reconnecting', retry_ms: 2500, reason: 'closed by the relay: wrong chain' }],
    ['ws://b', { state: 'connecting' }],
  ]);
  assert.deepEqual(netText(relays, null), { text: 'Offline · reconnecting in 3 s…', ok: false });
  assert.deepEqual(downRelays(relays).map(([u]) => u), ['ws://a']);
  relays.set('ws://b', { state: 'open' });
  // The header speaks plainly: no "relay", "head" or "final"; those are in the tooltip.
  const line = netText(relays, { height: 40 }).text;
  assert.equal(line, 'Online · block 40');
  assert.doesNotMatch(line, /relay|head|final/);
  assert.match(netDetail(relays, { height: 40 }, { height: 38 }), /ws:\/\/b: open[\s\S]*newest verified block: 40\nnewest finalized block: 38/);
  assert.equal(isRefusal('closed by the relay: wrong chain'), true);
  assert.equal(isRefusal('connection refused'), false);
  assert.equal(isRefusal(undefined), false);
});

test('text for reading', () => {
  assert.equal(groupThousands('1000000.5'), '1,000,000.5');
  assert.equal(groupThousands('999'), '999');
  assert.equal(groupAddress('meme1abcdefghij'), 'meme1 abcd efgh ij');
  assert.equal(shortHash('0123456789abcdef'), '01234567…');
  assert.deepEqual([40, 600, 5 * 3600, 3 * 86400].map(duration), ['40 s', '10 min', '5 h', '3 days']);
});
