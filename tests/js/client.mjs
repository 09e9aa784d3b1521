// Drives memecoin-wasm's `Client` (the wallet's relay client, compiled for Node.js) against real
// relays started by tests/tests/client.rs. Reads its setup as JSON from argv[2]; prints one JSON object
// per line on stdout ({"ready": ...} when it needs the Rust side to act, {"done": ...} at the
// end); any failed check throws, and the exit code is non-zero.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const setup = JSON.parse(process.argv[2]);
const require = createRequire(import.meta.url);
const w = require(`${setup.pkg}/memecoin_wasm.js`);
const genesis = readFileSync(setup.genesis, 'utf8');
const say = (value) => console.log(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));

/** A client with its event log, and a way to wait for an event. */
function open(urls, start = (cb) => new w.Client(genesis, urls, cb)) {
  const events = [];
  const waiters = new Set();
  const client = start((event) => {
    events.push(event);
    for (const waiter of waiters) waiter();
  });
  const next = (what, predicate, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(predicate);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events.map((e) => e.type + ':' + (e.state ?? e.what ?? '')))}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { client, events, next };
}

async function until(what, probe, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const [a, b] = setup.relays;
const main = open([a, b, setup.later]);
await main.next('relay a open', (e) => e.type === 'relay' && e.url === a && e.state === 'open');
await main.next('a finalized block', (e) => e.type === 'finalized' && e.anchor.height > 0n);
const early = main.client.checkpoint();
const earlyHeight = main.client.status().finalized.height;

// Amounts are exact, in whole coins.
assert.equal(w.ticker(), 'MEME');
assert.equal(w.parse_amount('1.5'), 1_500_000_000n);
assert.equal(w.format_amount(1_500_000_000n), '1.5');
assert.throws(() => w.parse_amount('0.0000000001'), /too many decimals: MEME has 9/);

// The dev account, verified at the finalized state, and a transfer followed to finality.
const dev = w.derive_account(setup.phrase, '', 0, 0).address;
main.client.watch(dev);
const watched = await main.next('the dev account', (e) => e.type === 'account' && e.account.address === dev);
assert.ok(watched.account.balance > 0n && watched.account.exists);
const before = await main.client.account(dev);
assert.equal(before.finalized, true);
const params = main.client.params();
const amount = w.parse_amount('2.5');
const signed = w.sign_transfer(setup.phrase, '', 0, 0, main.client.chain_id(), before.nonce, params.min_fee, setup.to, amount);
const submitted = await main.client.submit(signed.tx);
assert.equal(submitted.accepted, true, submitted.reason);
assert.equal(submitted.tx_id, signed.id);
const seen = new Set();
const final = await until('the transfer to be final', async () => {
  const status = await main.client.tx_status(signed.id);
  seen.add(status.status);
  return status.status === 'finalized' && status;
});
assert.equal(final.verified, true);
const received = await main.client.account(setup.to);
assert.equal(received.balance, amount);
assert.ok(received.at.height >= final.height);
const paid = await until('the sender to be charged', async () => {
  const now = await main.client.account(dev);
  return now.nonce === before.nonce + 1n && now;
});
assert.equal(paid.balance, before.balance - amount - params.min_fee);
assert.throws(() => main.client.submit('00'), /transaction/);
const refused = await main.client.submit(signed.tx);
assert.equal(refused.accepted, false);
assert.match(refused.reason, /nonce|already/);

// A saved checkpoint resumes where the client was, not at genesis.
const checkpoint = main.client.checkpoint();
const savedHeight = main.client.status().finalized.height;
const resumed = open([b], (cb) => w.Client.resume(genesis, checkpoint, [b], cb));
assert.equal(resumed.client.status().finalized.height, savedHeight);
await resumed.next('finality beyond the checkpoint', (e) => e.type === 'finalized' && e.anchor.height > savedHeight);
resumed.client.close();
assert.throws(() => w.Client.resume(genesis, checkpoint.slice(0, 40), [b], () => {}), /checkpoint/);

// A relay that is not there yet: reconnects with growing delays, then connects when it starts.
await main.next('three retries', () => main.events.filter((e) => e.url === setup.later && e.state === 'reconnecting').length >= 3);
const delays = main.events.filter((e) => e.url === setup.later && e.state === 'reconnecting').map((e) => e.retry_ms);
assert.ok(delays[0] >= 250 && delays[0] <= 500, `first delay ${delays[0]}`);
assert.ok(delays[2] >= 1000 && delays[2] <= 2000, `third delay ${delays[2]}`);
say({ ready: 'later' });
await main.next('the late relay open', (e) => e.type === 'relay' && e.url === setup.later && e.state === 'open', 60_000);
const relays = main.client.status().relays;
assert.deepEqual(relays.map((r) => r.state), ['open', 'open', 'open']);

// A position older than the weak-subjectivity bound (4 s here: 2 epochs of 8 slots of 250 ms):
// resumed from, it is not followed; both relays are asked for a checkpoint, agree on it, and the
// client starts again from there.
await until('the early position to expire', async () => main.client.status().finalized.height > earlyHeight + 24n);
const expired = open([a, b], (cb) => w.Client.resume(genesis, early, [a, b], cb));
const restarted = await expired.next('a checkpoint', (e) => e.type === 'checkpoint');
assert.deepEqual([...restarted.sources].sort(), [a, b].sort());
assert.ok(restarted.anchor.height > earlyHeight + 16n, `restarted at ${restarted.anchor.height}`);
await expired.next('finality from there', (e) => e.type === 'finalized' && e.anchor.height >= restarted.anchor.height);
expired.client.close();

// The validator registry, read from a chain meta proven against the finalized state root
// (what decides whether a stake carries a first commitment).
assert.equal(await main.client.registration(setup.validator_key), true, 'the validator is registered');
const stranger = w.derive_account(setup.phrase, '', 0, 7).public_key;
assert.equal(await main.client.registration(stranger), false, 'a fresh key is not');
assert.throws(() => main.client.registration('02zz'), /public key/);

// Liars: each lie is caught, reported with its reason, and never becomes a number.
const accountLiar = open([setup.liars.account]);
await accountLiar.next('finality through the account liar', (e) => e.type === 'finalized');
await assert.rejects(accountLiar.client.account(dev), /account proof/);
const rejectedAccount = await accountLiar.next('rejected account', (e) => e.type === 'rejected' && e.what === 'account');
assert.equal(rejectedAccount.relay, setup.liars.account);
// Its chain meta leaves the validator out of the registry: refused, never an answer.
await assert.rejects(accountLiar.client.registration(setup.validator_key), /state root/);
const rejectedMeta = await accountLiar.next('rejected meta', (e) => e.type === 'rejected' && e.what === 'meta');
assert.equal(rejectedMeta.relay, setup.liars.account);
accountLiar.client.close();

const finalityLiar = open([setup.liars.finality]);
const rejectedFinality = await finalityLiar.next('rejected finality', (e) => e.type === 'rejected' && e.what === 'finality');
assert.match(rejectedFinality.reason, /certificate/);
assert.equal(finalityLiar.client.status().finalized.height, 0n);
finalityLiar.client.close();

// A relay that swallows transactions: alone, it says "accepted" and then "pending" for ever.
// Beside an honest relay, the client sends to both; asked about a swallowed one, it says which
// relays do not have it, and sending it again gets it finalized.
const lone = open([setup.liars.swallow]);
await lone.next('the swallower open', (e) => e.type === 'relay' && e.state === 'open');
const next = await main.client.account(dev);
const swallowedTx = w.sign_transfer(setup.phrase, '', 0, 0, main.client.chain_id(), next.nonce, params.min_fee, setup.to, 1n);
const taken = await lone.client.submit(swallowedTx.tx);
assert.equal(taken.accepted, true);
assert.deepEqual(taken.accepted_by, [setup.liars.swallow]);
const both = open([setup.liars.swallow, b]);
await both.next('both open', () => both.events.filter((e) => e.type === 'relay' && e.state === 'open').length === 2);
const asked = await both.client.tx_status(swallowedTx.id);
assert.equal(asked.status, 'pending');
assert.deepEqual([asked.pending_at, asked.unknown_at], [[setup.liars.swallow], [b]]);
const resent = await both.client.submit(swallowedTx.tx);
assert.deepEqual(resent.accepted_by, [setup.liars.swallow, b]);
await until('the swallowed transfer to be final', async () => {
  const status = await both.client.tx_status(swallowedTx.id);
  return status.status === 'finalized' && status.verified;
});
lone.client.close();
both.client.close();

const split = open([a, setup.liars.head]);
const disagreement = await split.next('disagreement', (e) => e.type === 'disagreement' && e.what === 'head');
assert.equal(disagreement.relays.length, 2);
split.client.close();

// Honest relays are never reported: no rejection, no disagreement.
const complaints = main.events.filter((e) => e.type === 'rejected' || e.type === 'disagreement');
assert.deepEqual(complaints, []);
main.client.close();

// Conflicting finality (an honest relay, and one whose proofs finalize siblings, signed by the
// chain's one validator): the client stops with an alarm and sends the double votes it read off
// the two certificates to its relays. Last: the relays' validator gets slashed for it.
const fork = open([a, setup.liars.fork]);
const alarm = await fork.next('alarm', (e) => e.type === 'alarm' && e.what === 'finality', 60_000);
assert.ok(alarm.evidence >= 1, `evidence pieces: ${alarm.evidence}`);
assert.match(alarm.detail, /conflicting finalized blocks/);
const stopped = fork.client.status().finalized.height;
await new Promise((r) => setTimeout(r, 3000));
assert.equal(fork.client.status().finalized.height, stopped, 'nothing is finalized after the alarm');
fork.client.close();
assert.equal(main.client.status().relays.every((r) => r.state === 'closed'), true);
say({ done: { statuses: [...seen], delays, final_height: final.height, rejected: [rejectedAccount.reason, rejectedFinality.reason], disagreement: disagreement.detail } });
