// secp256k1 ECDSA over a 32-byte digest: memecoin's wasm (memecoin-core's k256, built by
// `wasm-pack build --release --target nodejs wasm`) against @noble/curves and tiny-secp256k1,
// in one Node process, on the same keys and digests; then a finality certificate and a
// light client's catch-up over 100,000 blocks, in our wasm alone.
//
//   node bench.mjs --pkg <wasm-pack output dir> [--quick]
//
// Run by `cargo xtask bench`. Before timing, every library signs every (key, digest) pair and
// all three must produce the same signature (RFC 6979, low S), and each must accept the others'
// signatures and reject a signature of another digest: a benchmark that skips work cannot pass.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import * as tiny from "tiny-secp256k1";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const pkgAt = args.indexOf("--pkg");
if (pkgAt < 0 || !args[pkgAt + 1]) {
  console.error("usage: node bench.mjs --pkg <dir of `wasm-pack build --target nodejs`> [--quick]");
  process.exit(2);
}
// wasm-pack's nodejs target is CommonJS.
const ours = createRequire(import.meta.url)(path.resolve(args[pkgAt + 1], "memecoin_wasm.js"));

const sha256 = (text) => new Uint8Array(createHash("sha256").update(text).digest());
const hex = (bytes) => Buffer.from(bytes).toString("hex");

// 8 keys x 32 digests, from fixed labels: nothing is random.
const keys = Array.from({ length: 8 }, (_, i) => sha256(`memecoin bench key ${i}`));
const digests = Array.from({ length: 32 }, (_, i) => sha256(`memecoin bench digest ${i}`));
const publicKeys = keys.map((k) => secp256k1.getPublicKey(k, true));
const cases = [];
for (const [k, key] of keys.entries()) {
  for (const digest of digests) cases.push({ key, pub: publicKeys[k], digest });
}

const libs = {
  ours: {
    sign: (c) => ours.sign_digest(c.key, c.digest),
    verify: (c, sig) => ours.verify_signature(c.pub, c.digest, sig),
  },
  noble: {
    sign: (c) => secp256k1.sign(c.digest, c.key, { prehash: false }),
    verify: (c, sig) => secp256k1.verify(sig, c.digest, c.pub, { prehash: false }),
  },
  tiny: {
    sign: (c) => tiny.sign(c.digest, c.key),
    verify: (c, sig) => tiny.verify(c.digest, c.pub, sig, true),
  },
};

// --- agreement -------------------------------------------------------------------------------
for (const [k, key] of keys.entries()) {
  if (hex(tiny.pointFromScalar(key, true)) !== hex(publicKeys[k])) {
    throw new Error(`public key ${k}: tiny-secp256k1 and noble disagree`);
  }
}
for (const c of cases) {
  c.sig = libs.noble.sign(c);
  for (const [name, lib] of Object.entries(libs)) {
    if (hex(lib.sign(c)) !== hex(c.sig)) throw new Error(`${name} signs differently`);
  }
}
for (const [i, c] of cases.entries()) {
  const other = cases[(i + 1) % cases.length];
  for (const [name, lib] of Object.entries(libs)) {
    if (lib.verify(c, c.sig) !== true) throw new Error(`${name} rejects a valid signature`);
    if (lib.verify(c, other.sig) !== false) throw new Error(`${name} accepts a wrong signature`);
  }
}
console.log(`agreement: ${cases.length} signatures, identical in all three, each verified by all three`);

// --- timing ----------------------------------------------------------------------------------
// Each figure: run the operation over the cases for `seconds`, `rounds` times, interleaving the
// libraries; keep the best round (least disturbed by the host and the GC).
const seconds = quick ? 0.4 : 2;
const rounds = quick ? 1 : 3;

function measure(op) {
  let i = 0;
  let sink = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  let ops = 0;
  while (now < end) {
    for (let j = 0; j < 16; j++) {
      const c = cases[i];
      i = (i + 1) % cases.length;
      if (op(c)) sink++;
    }
    ops += 16;
    now = performance.now();
  }
  if (sink === 0) throw new Error("no operation returned a result");
  return ops / ((now - start) / 1000);
}

const ops = {
  verify: (lib) => (c) => lib.verify(c, c.sig),
  sign: (lib) => (c) => lib.sign(c),
};
const results = {};
for (const [opName, op] of Object.entries(ops)) {
  results[opName] = {};
  for (const [name, lib] of Object.entries(libs)) {
    // Warm-up: JIT, noble's and k256's lazily built base-point tables.
    const f = op(lib);
    for (let j = 0; j < 200; j++) f(cases[j % cases.length]);
    results[opName][name] = 0;
  }
  for (let r = 0; r < rounds; r++) {
    for (const [name, lib] of Object.entries(libs)) {
      results[opName][name] = Math.max(results[opName][name], measure(op(lib)));
    }
  }
}

const fmt = (x) => Math.round(x).toLocaleString("en-US");
const rows = [["op (32-byte digest)", "ours ops/s", "noble ops/s", "tiny ops/s", "ours/noble", "ours/tiny"]];
for (const [opName, r] of Object.entries(results)) {
  rows.push([
    `ecdsa ${opName}`,
    fmt(r.ours),
    fmt(r.noble),
    fmt(r.tiny),
    `${(r.ours / r.noble).toFixed(2)}x`,
    `${(r.ours / r.tiny).toFixed(2)}x`,
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
for (const row of rows) {
  console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
}
// --- finality certificate ---------------------------------------------------------------------
// A light client at genesis accepting a finality proof whose certificate carries 100 votes
// (certificate.json, made by wasm/tests/bench_fixture.rs): 100 vote signatures and the target
// header's proposer signature, against keys the client decoded once, with the genesis. The cost
// per signature is (from_genesis + accept_finality − from_genesis) / 101, set against one plain
// tiny-secp256k1 verify (target >= 0.8 x tiny).
const fixture = JSON.parse(readFileSync(new URL("certificate.json", import.meta.url), "utf8"));
const signatures = fixture.signatures + 1;
function timeClient(accept) {
  const n = quick ? 5 : 20;
  let best = Infinity;
  for (let r = 0; r < rounds + 1; r++) {
    const start = performance.now();
    for (let j = 0; j < n; j++) {
      const client = ours.LightClient.from_genesis(fixture.genesis_json);
      if (accept && client.accept_finality(fixture.finality_proof).height !== 1n) {
        throw new Error("the certificate was not accepted");
      }
      client.free();
    }
    best = Math.min(best, (performance.now() - start) / n);
  }
  return best;
}
timeClient(true); // warm-up
const perSignatureMs = (timeClient(true) - timeClient(false)) / signatures;
const certPerS = 1000 / perSignatureMs;
console.log(
  `finality certificate (${fixture.signatures} votes + 1 header): ${fmt(certPerS)} signatures/s checked; ` +
    `tiny verify ${fmt(results.verify.tiny)}/s; ours/tiny ${(certPerS / results.verify.tiny).toFixed(2)}x (target >= 0.8)`,
);

// --- light-client catch-up ------------------------------------------------------------------
// A light client from genesis to a verified finalized block at height >= 100,000 of a real chain
// (catch_up.json, made by wasm/tests/catch_up_fixture.rs: 100,002 empty blocks, 4 validators,
// 12,501 epochs): build the genesis, decode the relay's newest finality proof and accept it by
// skipping (PROTOCOL.md §13.4) — the work a wallet far behind does after `get_finality` with
// `latest`. The network round trip is not in it. The first run (cold) is what a page sees; the
// best of the later runs is the steady figure. Target <= 1 s.
const history = JSON.parse(readFileSync(new URL("catch_up.json", import.meta.url), "utf8"));
function catchUpMs() {
  const start = performance.now();
  const client = ours.LightClient.from_genesis(history.genesis_json);
  const anchor = client.accept_finality(history.finality_proof);
  const ms = performance.now() - start;
  if (anchor.height !== BigInt(history.finalized_height) || client.epoch() !== BigInt(history.epochs - 1)) {
    throw new Error("the catch-up did not reach the stored finalized block");
  }
  client.free();
  return ms;
}
const coldMs = catchUpMs();
let catchUpBest = Infinity;
for (let r = 0; r < (quick ? 5 : 20); r++) catchUpBest = Math.min(catchUpBest, catchUpMs());
console.log(
  `light-client catch-up (genesis -> finalized height ${fmt(history.finalized_height)} of ${fmt(history.blocks)} blocks, ` +
    `${fmt(history.epochs)} epochs, one proof): ${catchUpBest.toFixed(2)} ms (first run ${coldMs.toFixed(2)} ms); ` +
    `${(Math.max(coldMs, catchUpBest) / 1000).toFixed(4)} x the 1 s target (target <= 1)`,
);

const versions = ["@noble/curves", "tiny-secp256k1"].map((p) => {
  const file = new URL(`node_modules/${p}/package.json`, import.meta.url);
  return `${p} ${JSON.parse(readFileSync(file, "utf8")).version}`;
});
console.log(`node ${process.version}, ${versions.join(", ")}, ${quick ? "--quick" : `best of ${rounds} x ${seconds} s`}`);
