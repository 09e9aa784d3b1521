// The saved checkpoint, authenticated. The client's verified position is the wallet's trust
// root once saved: whoever can write it can pick the validator set the wallet believes, so it
// is kept with an HMAC-SHA256 under a key derived (HKDF-SHA256) from the recovery phrase and
// bound to the chain spec. A position that does not verify is not used: the wallet starts from
// the chain spec again. Only WebCrypto, no DOM, no wasm: tests/js/wallet/ checks it in Node.

const INFO = new TextEncoder().encode('memecoin checkpoint mac v1');

const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (text) => new Uint8Array(text.match(/../g).map((b) => parseInt(b, 16)));

/// The SHA-256 of the chain spec, hex: names the saved checkpoint and salts its key.
export async function specDigest(genesisJson) {
  return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(genesisJson)));
}

/// The checkpoint's MAC key: non-extractable, usable for HMAC only. Derived from the phrase, so
/// nothing that can only write this browser's storage can make one.
export async function macKey(phrase, digestHex) {
  const ikm = await crypto.subtle.importKey('raw', new TextEncoder().encode(phrase), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: unhex(digestHex), info: INFO },
    ikm,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  );
}

/// The text to store: the checkpoint (the client's `checkpoint()` hex) and its MAC.
export async function seal(key, checkpoint) {
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(checkpoint));
  return JSON.stringify({ checkpoint, mac: hex(mac) });
}

/// The checkpoint in `stored`, or null when it is not one this key sealed (changed, from
/// another phrase or chain, or from a page that did not seal it). `verify` compares in
/// constant time.
export async function unseal(key, stored) {
  let parsed;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return null;
  }
  const { checkpoint, mac } = parsed || {};
  if (typeof checkpoint !== 'string' || typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) return null;
  const ok = await crypto.subtle.verify('HMAC', key, unhex(mac), new TextEncoder().encode(checkpoint));
  return ok ? checkpoint : null;
}
