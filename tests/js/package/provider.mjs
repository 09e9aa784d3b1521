// The checks of @memecoin/client's provider, run the same in Node.js (tests/js/package/node.mjs)
// and in Chromium (tests/e2e/package.mjs), against the real relays tests/tests/package.rs starts.
// No test framework: the package's import is passed in, and the first failed check throws.
//
// `setup`: { genesis (JSON text), relays: [ws URL…], liar (a relay forging balances),
//            chainId, minFee (string), phrase, dev (its address), to (a fresh address) }

class Failed extends Error {}

function check(cond, what) {
  if (!cond) throw new Failed(`expected: ${what}`);
}

function same(actual, expected, what) {
  check(actual === expected, `${what}: ${String(expected)}, got ${String(actual)}`);
}

/// Awaits `promise` and checks that it rejects with a `code` and a message matching `pattern`.
async function refused(promise, code, pattern, what) {
  let error = null;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  check(error !== null, `${what}: a refusal`);
  same(error.code, code, `${what}: the error code (${error.message})`);
  check(pattern.test(error.message), `${what}: a message like ${pattern}, got "${error.message}"`);
  return error;
}

function waitFor(provider, event, predicate, what, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      provider.removeListener(event, listener);
      reject(new Failed(`timed out waiting for ${what}`));
    }, ms);
    const listener = (value) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      provider.removeListener(event, listener);
      resolve(value);
    };
    provider.on(event, listener);
  });
}

/** Runs every check; resolves with figures for the caller's report. */
export async function run({ connect, ErrorCode }, setup) {
  const MEME = 1_000_000_000n;

  // connect refuses what it cannot use, with a typed error, before any connection.
  await refused(connect({ relays: setup.relays }), ErrorCode.INVALID_PARAMS, /genesis/, 'no chain spec');
  await refused(connect({ genesis: setup.genesis, relays: [] }), ErrorCode.INVALID_PARAMS, /relay/, 'no relays');
  await refused(connect({ genesis: '{"not":"a chain spec"}', relays: setup.relays }), ErrorCode.INVALID_PARAMS, /./, 'a broken chain spec');

  // A reader: no key.
  const reader = await connect({ genesis: setup.genesis, relays: setup.relays });
  const connected = waitFor(reader, 'connect', () => true, 'connect');
  const head = waitFor(reader, 'head', (e) => e.anchor.height > 0n, 'a verified head');
  const synced = await reader.waitSynced({ timeoutMs: 60_000 });
  check(synced.head.height > 0n, 'synced past genesis');
  same((await connected).chainId, setup.chainId, 'connect event chain id');
  await head;
  same(await reader.request({ method: 'meme_chainId' }), setup.chainId, 'meme_chainId');
  const params = await reader.request({ method: 'meme_params' });
  same(params.min_fee, BigInt(setup.minFee), 'min fee');
  const status = await reader.request({ method: 'meme_status' });
  same(status.synced, true, 'meme_status.synced');
  check(status.relays.some((r) => r.state === 'open'), 'an open relay in meme_status');
  const height = await reader.request({ method: 'meme_blockNumber' });
  const finalized = await reader.request({ method: 'meme_finalized' });
  check(typeof height === 'bigint' && height > 0n, 'meme_blockNumber is a bigint above 0');
  check(finalized.height <= height, 'finalized at or below the head');
  const devBefore = await reader.request({ method: 'meme_getAccount', params: [setup.dev] });
  check(devBefore.exists && devBefore.balance > 10n * MEME, 'the dev account is funded');
  same(devBefore.address, setup.dev, 'account address');
  check(devBefore.finalized, 'meme_getAccount is proven at the finalized block');
  same(await reader.request({ method: 'meme_getBalance', params: [setup.to] }), 0n, 'a fresh address holds 0');
  same((await reader.request({ method: 'meme_accounts' })).length, 0, 'a reader has no accounts');

  // Refusals: unsupported, malformed, unauthorized.
  await refused(reader.request({ method: 'eth_getBalance', params: [setup.dev] }), ErrorCode.UNSUPPORTED_METHOD, /unsupported method `eth_getBalance`/, 'an unknown method');
  await refused(reader.request({ method: 'meme_getBalance', params: [setup.dev.slice(0, 20)] }), ErrorCode.INVALID_PARAMS, /address/, 'half an address');
  await refused(reader.request({ method: 'meme_getBalance', params: [setup.dev.replace(/.$/, (c) => (c === 'q' ? 'p' : 'q'))] }), ErrorCode.INVALID_PARAMS, /checksum/, 'a mistyped address');
  await refused(reader.request({ method: 'meme_getTransaction', params: ['xyz'] }), ErrorCode.INVALID_PARAMS, /64 lower-case hex/, 'a bad transaction id');
  await refused(reader.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: '1' }] }), ErrorCode.UNAUTHORIZED, /no key/, 'sending without a key');
  await refused(reader.request({ method: 'meme_sendRawTransaction', params: ['00ff'] }), ErrorCode.INVALID_PARAMS, /./, 'a malformed raw transaction');
  await refused(reader.request({ method: 'meme_getBalance', params: 'not an array' }), ErrorCode.INVALID_PARAMS, /array/, 'params not an array');
  let unknownEvent = null;
  try {
    reader.on('no-such-event', () => {});
  } catch (e) {
    unknownEvent = e;
  }
  same(unknownEvent?.code, ErrorCode.INVALID_PARAMS, 'an unknown event name is refused');

  // A wallet: the dev phrase. Its key signs here; only the signed bytes leave.
  const wallet = await connect({ genesis: setup.genesis, relays: setup.relays, signer: { phrase: setup.phrase } });
  await wallet.waitSynced();
  const accounts = await wallet.request({ method: 'meme_accounts' });
  same(accounts.length, 1, 'one account');
  same(accounts[0], setup.dev, 'the signer is the dev account');
  // A transfer the chain would refuse is not sent: core's reason, before signing.
  const tooMuch = devBefore.balance + 1n;
  await refused(wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: tooMuch }] }), ErrorCode.INVALID_PARAMS, /needs \d+, balance is \d+/, 'a transfer above the balance');
  await refused(wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: '1.0000000001' }] }), ErrorCode.INVALID_PARAMS, /too many decimals/, 'an amount with 10 decimals');
  await refused(wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: '1', fee: 0n }] }), ErrorCode.INVALID_PARAMS, /fee is below the minimum/, 'a fee below the minimum');

  const seenAccount = waitFor(wallet, 'account', (e) => e.account.address === setup.dev && e.account.nonce > devBefore.nonce, 'the sender\'s account event after the send');
  const signed = await wallet.request({ method: 'meme_signTransaction', params: [{ to: setup.to, amount: '1.25' }] });
  check(/^[0-9a-f]{64}$/.test(signed.id) && /^[0-9a-f]+$/.test(signed.tx), 'a signed transaction and its id');
  const id = await wallet.request({ method: 'meme_sendRawTransaction', params: [signed.tx] });
  same(id, signed.id, 'the id a relay accepted');
  const final = await wallet.request({ method: 'meme_waitForTransaction', params: [id, { timeoutMs: 90_000 }] });
  same(final.status, 'finalized', 'the transfer\'s status');
  same(final.verified, true, 'the finalized status is proven');
  await seenAccount;
  same(await wallet.request({ method: 'meme_getBalance', params: [setup.to] }), 1_250_000_000n, 'the recipient\'s proven balance');
  const devAfter = await wallet.request({ method: 'meme_getAccount', params: [setup.dev] });
  same(devAfter.balance, devBefore.balance - 1_250_000_000n - params.min_fee, 'the sender paid the amount and the fee');
  // The same signed bytes again: the relays refuse it (its nonce is spent), with their reason.
  await refused(wallet.request({ method: 'meme_sendRawTransaction', params: [signed.tx] }), ErrorCode.TRANSACTION_REJECTED, /refused by ws:.*nonce/, 'a replayed transaction');
  // A nonce the chain has used is refused before signing, with core's reason.
  await refused(wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: '1', nonce: devBefore.nonce }] }),
    ErrorCode.INVALID_PARAMS, /nonce \d+, the account's next is \d+/, 'a used nonce');
  // Two sends made at once take consecutive nonces, and both are included: none replaces the
  // other.
  const [first, second] = await Promise.all([
    wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: 250_000_000n }] }),
    wallet.request({ method: 'meme_sendTransaction', params: [{ to: setup.to, amount: '0.5' }] }),
  ]);
  check(first !== second, 'two transactions');
  // One past the next is a gap the chain would wait on: refused too.
  const pendingNext = devAfter.nonce + 2n;
  await refused(wallet.request({ method: 'meme_signTransaction', params: [{ to: setup.to, amount: '1', nonce: pendingNext + 1n }] }),
    ErrorCode.INVALID_PARAMS, /nonce \d+, the account's next is \d+/, 'a nonce past the next');
  await wallet.request({ method: 'meme_waitForTransaction', params: [first] });
  await wallet.request({ method: 'meme_waitForTransaction', params: [second] });
  same(await wallet.request({ method: 'meme_getBalance', params: [setup.to] }), 2_000_000_000n, 'the recipient after three transfers');
  same((await wallet.request({ method: 'meme_getAccount', params: [setup.dev] })).nonce, devAfter.nonce + 2n, 'two nonces used');

  // A relay that forges balances is caught: nothing unproven is answered.
  const fooled = await connect({ genesis: setup.genesis, relays: [setup.liar] });
  const rejected = waitFor(fooled, 'rejected', (e) => e.what === 'account', 'the forged account proof reported');
  await fooled.waitSynced();
  await refused(fooled.request({ method: 'meme_getBalance', params: [setup.dev] }), ErrorCode.RESOURCE_UNAVAILABLE, /proof/, 'a forged balance');
  const report = await rejected;
  same(report.relay, setup.liar, 'the liar is named');
  fooled.close();

  // Resuming from a checkpoint: the same chain, without verifying from genesis again.
  const checkpoint = await reader.request({ method: 'meme_checkpoint' });
  reader.close();
  await refused(reader.request({ method: 'meme_blockNumber' }), ErrorCode.DISCONNECTED, /closed/, 'a closed provider');
  const resumed = await connect({ genesis: setup.genesis, relays: setup.relays, checkpoint });
  const fromCheckpoint = await resumed.request({ method: 'meme_finalized' });
  check(fromCheckpoint.height >= finalized.height, 'resumed at the checkpoint, not at genesis');
  await resumed.waitSynced();
  same(await resumed.request({ method: 'meme_getBalance', params: [setup.to] }), 2_000_000_000n, 'the balance after resuming');
  resumed.close();
  wallet.close();
  return { synced_at: String(height), resumed_at: String(fromCheckpoint.height), tx: id };
}
