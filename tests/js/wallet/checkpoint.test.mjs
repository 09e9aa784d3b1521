// The saved checkpoint's seal (www/js/checkpoint.js): only the phrase's key, on this chain
// spec, makes a stored position the wallet resumes from.
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { test } from 'node:test';

if (!globalThis.crypto) globalThis.crypto = webcrypto; // Node 18
const { macKey, seal, specDigest, unseal } = await import('../../../www/js/checkpoint.js');

const PHRASE = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
const CHECKPOINT = '00'.repeat(40) + 'ab';

test('a sealed checkpoint opens with its key only', async () => {
  const spec = await specDigest('{"chain_name":"memecoin-devnet"}');
  assert.match(spec, /^[0-9a-f]{64}$/);
  const key = await macKey(PHRASE, spec);
  const stored = await seal(key, CHECKPOINT);
  assert.equal(await unseal(key, stored), CHECKPOINT);
  // Another phrase, or the same phrase on another chain spec: not this wallet's seal.
  const otherPhrase = await macKey(`${PHRASE} x`, spec);
  assert.equal(await unseal(otherPhrase, stored), null);
  const otherChain = await macKey(PHRASE, await specDigest('{"chain_name":"other"}'));
  assert.equal(await unseal(otherChain, stored), null);
});

test('a changed, unsealed or malformed position is refused', async () => {
  const key = await macKey(PHRASE, await specDigest('{}'));
  const { checkpoint, mac } = JSON.parse(await seal(key, CHECKPOINT));
  const forged = JSON.stringify({ checkpoint: checkpoint.replace(/ab$/, 'ac'), mac });
  assert.equal(await unseal(key, forged), null, 'another position under the old MAC');
  assert.equal(await unseal(key, CHECKPOINT), null, 'a bare checkpoint, as older pages saved it');
  for (const junk of ['', 'null', '{}', '[]', JSON.stringify({ checkpoint, mac: 'zz' }), JSON.stringify({ checkpoint: 5, mac })]) {
    assert.equal(await unseal(key, junk), null, junk);
  }
});

test('the key cannot be read out', async () => {
  const key = await macKey(PHRASE, await specDigest('{}'));
  assert.equal(key.extractable, false);
  assert.deepEqual(key.usages.sort(), ['sign', 'verify']);
});
