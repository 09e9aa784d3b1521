// Loads a finished build of the wallet's wasm (after wasm-bindgen and wasm-opt) in Node and
// checks it against the shared vectors, since wasm-opt rewrote the code the wasm tests ran:
// ECDSA sign and verify (protocol.json), BIP-39 phrases and seeds (bip39.json, through the
// wallet's addresses), and NFKD done by JavaScript (bip39_nfkd.json).
//
//   node check.mjs --web|--nodejs <dir of `cargo xtask wasm`>
//
// Run by `cargo xtask wasm` (and so by `cargo xtask test` and `cargo xtask bench`).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [mode, dir] = process.argv.slice(2);
if (!["--web", "--nodejs"].includes(mode) || !dir) {
  console.error("usage: node check.mjs --web|--nodejs <dir>");
  process.exit(2);
}
const glue = path.resolve(dir, "memecoin_wasm.js");
let wasm;
if (mode === "--web") {
  // The web target is an ES module in a `.js` file with no package.json around it: import its
  // text, and hand `init` the bytes (it would fetch them in a browser).
  const text = readFileSync(glue, "utf8");
  wasm = await import(`data:text/javascript;base64,${Buffer.from(text).toString("base64")}`);
  await wasm.default({ module_or_path: readFileSync(path.resolve(dir, "memecoin_wasm_bg.wasm")) });
} else {
  wasm = createRequire(import.meta.url)(glue);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const vectors = (name) => JSON.parse(readFileSync(path.join(root, name)));
const bytes = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
const hex = (b) => Buffer.from(b).toString("hex");

// Sign and verify: transaction 0 of the protocol vectors is signed by key 2.
const protocol = vectors("core/tests/vectors/protocol.json");
const [key, tx] = [protocol.keys[2], protocol.transactions[0]];
const digest = bytes(tx.signing_digest);
assert.equal(hex(wasm.sign_digest(bytes(key.secret_key), digest)), tx.signature);
assert.equal(wasm.verify_signature(bytes(key.public_key), digest, bytes(tx.signature)), true);
digest[0] ^= 1;
assert.equal(wasm.verify_signature(bytes(key.public_key), digest, bytes(tx.signature)), false);
assert.throws(() => wasm.sign_digest(new Uint8Array(32), digest), /secret key/);

// Wallet keys and addresses (BIP-39 seed, BIP-32 path).
for (const k of protocol.keys.slice(0, 3)) {
  const index = Number(k.path.split("/").pop().replace("'", ""));
  const account = wasm.derive_account(k.phrase, k.passphrase, 0, index);
  assert.equal(account.address, k.address, k.path);
  assert.equal(account.public_key, k.public_key, k.path);
}
for (const [, phrase] of vectors("wallet/tests/vectors/bip39.json").english.slice(0, 6)) {
  assert.equal(wasm.validate_phrase(phrase), phrase);
}
assert.throws(() => wasm.validate_phrase("abandon zzz"), /phrase of 2 words/);

// NFKD by JavaScript: a phrase and a passphrase that are not NFKD give the native address.
for (const v of vectors("wallet/tests/vectors/bip39_nfkd.json").vectors) {
  assert.equal(wasm.validate_phrase(v.phrase), v.phrase_nfkd);
  assert.equal(wasm.derive_account(v.phrase, v.passphrase, 0, 0).address, v.address);
  assert.equal(wasm.derive_account(v.phrase_nfkd, v.passphrase_nfkd, 0, 0).address, v.address);
}

console.log(`wasm check: ${dir} (${mode.slice(2)}) signs, verifies and derives as the vectors say`);
