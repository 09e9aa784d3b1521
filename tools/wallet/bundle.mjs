// The wallet as a static, versioned bundle: a folder any static host (or a local static server)
// can serve, that talks to relays over ws/wss and trusts nothing its host sends beyond the files
// whose hashes it names.
//
//   node bundle.mjs --www <built www/> --genesis <chain spec> --out <dir> [--relay wss://…]…
//                   [--checkpoint-source wss://…]…
//
// Run by `cargo xtask wallet` (after `cargo xtask page`) and by tests/tests/page.rs.
//
// - Every file but index.html is named by its content (`app.<sha256/16>.js`), so a name is a
//   version: hosts may cache them for ever, and no two versions share a name.
// - The chain spec and the default relays are pinned in js/state.js (`BUNDLE`), the genesis
//   fetched with its SHA-384 as `integrity`, the wasm too.
// - index.html loads the stylesheet and app.js with subresource integrity, and an import map
//   gives the integrity of every module app.js imports, directly or not (js/*, the wasm glue,
//   the QR code), each imported by its hashed name, so a changed byte anywhere stops the page
//   from loading.
// - index.html carries the Content-Security-Policy as a <meta> (with the import map's hash);
//   `_headers` has the same headers, with `frame-ancestors`, for hosts that read it (Netlify,
//   Cloudflare Pages); the relay sends them itself (relay/src/http.rs, `PAGE_HEADERS`).
// - SHA256SUMS lists every file; the printed hash of index.html identifies the bundle (README:
//   "Check a wallet bundle").

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const www = opt("--www");
const genesisPath = opt("--genesis");
const out = opt("--out");
const relays = args.flatMap((a, i) => (a === "--relay" ? [args[i + 1]] : []));
// Relays run by independent operators, connected to like the others: a wallet whose position
// has expired needs several sources to agree on a recent checkpoint (PROTOCOL.md §13.5).
const sources = args.flatMap((a, i) => (a === "--checkpoint-source" ? [args[i + 1]] : []));
if (!www || !genesisPath || !out) {
  console.error("usage: node bundle.mjs --www <dir> --genesis <spec.json> --out <dir> [--relay wss://…]…");
  process.exit(2);
}
if (relays.length + sources.length > 8) {
  console.error("at most 8 relays and checkpoint sources in all (the wallet connects to each)");
  process.exit(2);
}
for (const r of [...relays, ...sources]) {
  if (!/^wss?:\/\//.test(r)) {
    console.error(`--relay ${r}: a relay is a ws:// or wss:// URL`);
    process.exit(2);
  }
}

const read = (file) => readFileSync(path.join(www, file));
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const sri = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
/** `dir/name.ext` → `dir/name.<hash>.ext` */
const named = (file, bytes) => {
  const ext = path.extname(file);
  return `${file.slice(0, -ext.length)}.${sha256(bytes).slice(0, 16)}${ext}`;
};
/** Replaces `from` by `to` exactly once, or fails: the build must match what this expects. */
const replaceOnce = (text, from, to, where) => {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${where}: expected "${from}" once, found it ${n} times`);
  return text.replace(from, to);
};

rmSync(out, { recursive: true, force: true });
const files = new Map(); // bundle path → bytes
const put = (file, bytes) => files.set(file, Buffer.from(bytes));

// Leaves first: each name is known before the file that names it is hashed.
const wasm = read("pkg/memecoin_wasm_bg.wasm");
const wasmName = named("pkg/memecoin_wasm_bg.wasm", wasm);
put(wasmName, wasm);

let genesis;
try {
  genesis = readFileSync(genesisPath);
  JSON.parse(genesis.toString()); // a chain spec, not anything
} catch (e) {
  console.error(`--genesis ${genesisPath}: not a readable chain spec (${e.message})`);
  process.exit(2);
}
const genesisName = named("genesis.json", genesis);
put(genesisName, genesis);

const pinned = {
  genesis: [genesisName, sri(genesis)],
  wasm: [wasmName, sri(wasm)],
  relays,
  sources,
};
/** What the bundle changes in a module before hashing it, by its path in www/. */
const edits = {
  "pkg/memecoin_wasm.js": (text) =>
    replaceOnce(text, "'memecoin_wasm_bg.wasm'", `'${path.basename(wasmName)}'`, "pkg/memecoin_wasm.js"),
  "js/state.js": (text) =>
    replaceOnce(text, "export const BUNDLE = null;", `export const BUNDLE = ${JSON.stringify(pinned)};`, "js/state.js"),
};

// The page's ES modules, from app.js down its relative imports. Each import is rewritten to
// the content-hashed name of what it imports, so a module is hashed after everything it
// imports: the imports must form no cycle.
const IMPORT = /(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\2/g;
const modules = new Map(); // www path → { name, bytes }
const visiting = new Set();
const emit = (file) => {
  const done = modules.get(file);
  if (done) return done.name;
  if (visiting.has(file)) throw new Error(`${file}: imports form a cycle (${[...visiting].join(" → ")} → ${file})`);
  visiting.add(file);
  let text = read(file).toString();
  if (edits[file]) text = edits[file](text);
  const dir = path.posix.dirname(file);
  text = text.replace(IMPORT, (_, head, quote, spec) => {
    const target = path.posix.normalize(path.posix.join(dir, spec));
    let rel = path.posix.relative(dir, emit(target));
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return `${head}${quote}${rel}${quote}`;
  });
  visiting.delete(file);
  const bytes = Buffer.from(text);
  const name = named(file, bytes);
  modules.set(file, { name, bytes });
  put(name, bytes);
  return name;
};
// The client's Web Worker (www/js/worker.js) is not imported by any module: a worker cannot be
// loaded with integrity, so the page fetches it and the wasm glue it imports with their pinned
// hashes and starts it from `blob:` URLs (www/js/remote.js, `bundledWorker`). The worker keeps
// its import of the glue as written: the page links it.
const glueName = emit("pkg/memecoin_wasm.js");
const worker = read("js/worker.js");
const workerName = named("js/worker.js", worker);
put(workerName, worker);
pinned.worker = [workerName, sri(worker)];
pinned.glue = [glueName, sri(modules.get("pkg/memecoin_wasm.js").bytes)];

const appName = emit("app.js");
for (const [file] of Object.entries(edits)) {
  if (!modules.has(file)) throw new Error(`${file}: expected among the page's modules`);
}
const app = modules.get("app.js").bytes;

const css = read("style.css");
const cssName = named("style.css", css);
put(cssName, css);

// Every module but app.js (which the script tag names with its own integrity), by its URL.
const importmap = JSON.stringify({
  integrity: Object.fromEntries(
    [...modules].filter(([file]) => file !== "app.js").map(([, m]) => [`./${m.name}`, sri(m.bytes)]),
  ),
});
const importmapHash = `sha256-${createHash("sha256").update(importmap).digest("base64")}`;
// The page's headers are written once, in www/headers.json (the relay sends the same). The
// <meta> policy adds the import map's hash to script-src and leaves out frame-ancestors, which a
// <meta> policy cannot carry; `_headers` has the whole policy with the hash.
const pageHeaders = JSON.parse(read("headers.json").toString());
// `blob:` for scripts and workers: the client's worker and its glue, checked against their
// pinned hashes by the page before it starts them (see the worker above).
const directives = [
  ...pageHeaders["content-security-policy"].map((d) =>
    d.startsWith("script-src ") ? `${d} blob: '${importmapHash}'` : d,
  ),
  "worker-src blob:",
];
const csp = directives.filter((d) => !d.startsWith("frame-ancestors ")).join("; ");
let html = read("index.html").toString();
html = replaceOnce(
  html,
  '<link rel="stylesheet" href="style.css">',
  `<meta http-equiv="Content-Security-Policy" content="${csp}">\n` +
    `<link rel="stylesheet" href="${cssName}" integrity="${sri(css)}">`,
  "index.html",
);
html = replaceOnce(
  html,
  '<script type="module" src="app.js"></script>',
  `<script type="importmap">${importmap}</script>\n` +
    `<script type="module" src="${appName}" integrity="${sri(app)}"></script>`,
  "index.html",
);
put("index.html", html);

const headers = [
  "/*",
  ...Object.entries(pageHeaders).map(([name, value]) =>
    name === "content-security-policy"
      ? `  ${name}: ${directives.join("; ")}`
      : `  ${name}: ${Array.isArray(value) ? value.join("; ") : value}`,
  ),
  "",
].join("\n");
put("_headers", headers);

for (const [file, bytes] of files) {
  mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
  writeFileSync(path.join(out, file), bytes);
}
const sums = [...files].map(([file, bytes]) => `${sha256(bytes)}  ${file}`).sort((a, b) =>
  a.slice(66).localeCompare(b.slice(66)),
);
writeFileSync(path.join(out, "SHA256SUMS"), `${sums.join("\n")}\n`);
console.log(`wallet bundle: ${out}`);
console.log(`  index.html sha256 ${sha256(Buffer.from(html))} (the bundle's identity)`);
console.log(`  chain ${JSON.parse(genesis.toString()).chain_name}, relays: ${relays.join(", ") || "the serving host's /ws"}`);
