// @memecoin/client in real headless Chromium (Debian's), driven by playwright-core. Started by
// tests/tests/package.rs, which runs the relays, installs the packed package into a copy of
// examples/pay/ and passes (environment):
//   APP_DIR   that copy: the example page, genesis.json, node_modules/@memecoin/client
//   SETUP     the suite's setup as JSON (tests/js/package/provider.mjs), genesis left out
//   EXPECT    the balance text the example page must show for SETUP.to after the suite
//   OUT_DIR   where screenshots go
//   CHROMIUM  the browser binary (default /usr/bin/chromium)
// Serves APP_DIR, and the suite under /suite/, from a plain static server; runs the suite in a
// page, then opens the example page and watches SETUP.to's balance. Exits non-zero on a
// failed check or on any console error.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const APP = env('APP_DIR');
const SETUP = JSON.parse(env('SETUP'));
const EXPECT = env('EXPECT');
const OUT = env('OUT_DIR');
const SUITE = join(dirname(fileURLToPath(import.meta.url)), '../js/package');
mkdirSync(OUT, { recursive: true });

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const RUNNER = `<!doctype html><meta charset="utf-8"><title>provider suite</title>
<script type="module">
import * as client from '/node_modules/@memecoin/client/index.js';
import { run } from '/suite/provider.mjs';
const setup = ${JSON.stringify(SETUP)};
setup.genesis = await (await fetch('/genesis.json')).text();
window.outcome = run(client, setup).then((done) => ({ done }), (e) => ({ error: String(e && e.stack || e) }));
</script>`;

const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (path.split('/').some((p) => p === '..')) return res.writeHead(400).end();
  // No icon: an empty answer, not a 404 (which Chromium logs as a console error).
  if (path === '/favicon.ico') return res.writeHead(204).end();
  if (path === '/suite/run.html') return res.writeHead(200, { 'content-type': types['.html'] }).end(RUNNER);
  const file = path.startsWith('/suite/') ? join(SUITE, path.slice('/suite/'.length))
    : join(APP, path === '/' ? 'index.html' : path.slice(1));
  try {
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' }).end(body);
  } catch {
    console.error(`404 ${path}`);
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

const errors = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
let code = 0;
try {
  const watch = (page, name) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${name}: console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${name}: uncaught: ${e.message}`));
  };

  const suite = await browser.newPage();
  watch(suite, 'suite');
  await suite.goto(`${base}/suite/run.html`);
  await suite.waitForFunction(() => window.outcome !== undefined);
  const outcome = await suite.evaluate(() => window.outcome);
  if (outcome.error) throw new Error(`the provider suite failed in Chromium:\n${outcome.error}`);
  console.log(`chromium suite: ${JSON.stringify(outcome.done)}`);

  // The example page, as a user opens it: the balance of the suite's recipient, verified.
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  watch(page, 'example');
  const relays = SETUP.relays.map((r) => `relay=${encodeURIComponent(r)}`).join('&');
  await page.goto(`${base}/index.html?${relays}`);
  await page.waitForFunction(() => /Verified head #\d+/.test(document.getElementById('chain').textContent), null, { timeout: 60_000 });
  await page.fill('#address', SETUP.to.slice(0, 20));
  await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
  const half = await page.textContent('#error');
  if (!/address/.test(half)) throw new Error(`expected an address error for half an address, got "${half}"`);
  await page.fill('#address', SETUP.to);
  await page.waitForFunction((want) => document.getElementById('balance').textContent.startsWith(want), EXPECT, { timeout: 60_000 });
  console.log(`example page: ${await page.textContent('#balance')}`);
  await page.screenshot({ path: join(OUT, 'package-example.png') });
  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`);
  console.log('package e2e: 2 passed, 0 failed');
} catch (e) {
  console.error(e.stack || String(e));
  if (errors.length) console.error(`console errors:\n${errors.join('\n')}`);
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
