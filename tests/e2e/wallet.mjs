// The wallet page end to end in real headless Chromium (Debian's), driven by playwright-core.
// Started by tests/tests/page.rs, which runs a devnet serving the page and two lying relays, and
// passes (environment):
//   BASE_URL        http://127.0.0.1:PORT/ — the relay serving the page (with a faucet)
//   LIAR_BALANCE    ws://…/ws — a relay that forges account proofs (balance)
//   LIAR_CERT       ws://…/ws — a relay that forges finality certificates
//   LIAR_HEAD       ws://…/ws — a relay with the proposer's key: a forged balance in a head block
//   LIAR_HEAD_TALL  ws://…/ws — the same at height 10^15
//   LIAR_SWALLOW    ws://…/ws — a relay that answers "accepted" to every transaction and drops it
//   LIAR_STALE      ws://…/ws — a relay that withholds finality (as when it has stalled)
//   LIAR_FORK       ws://…/ws — a relay whose finality proofs finalize conflicting blocks
//   OTHER_CHAIN     ws://…/ws — a relay of another chain
//   BUNDLE_DIR      the static wallet bundle (tools/wallet/bundle.mjs) pinned to this chain and relay
//   PHRASE_B        the recovery phrase imported as the second wallet
//   ADDRESS_B       its address, as core derives it
//   ADDRESS_B_1     its second account's (account index 1)
//   ADDRESS_B_TREZOR  its first account's under the BIP-39 passphrase "TREZOR"
//   FAUCET_AMOUNT, TRANSFER_FEE   the faucet's payment and the chain's minimum fee, as MEME text
//   OUT_DIR         where screenshots go
//   CHROMIUM        the browser binary (default /usr/bin/chromium)
// Exits non-zero on the first failed expectation or on any console error of any page.

import { chromium } from 'playwright-core';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('BASE_URL');
const OUT = env('OUT_DIR');
const PHRASE_B = env('PHRASE_B');
const ADDRESS_B = env('ADDRESS_B');
const ADDRESS_B_1 = env('ADDRESS_B_1');
const ADDRESS_B_TREZOR = env('ADDRESS_B_TREZOR');
/// A vault of version 1 (the phrase alone, written before passphrases; wasm/tests/suite): the
/// phrase `abandon … about`, password `hunter2`.
const VAULT_V1 = '{"version":1,"kdf":"pbkdf2-sha256","iterations":600000,"salt":"07070707070707070707070707070707","nonce":"090909090909090909090909","ciphertext":"0f1f20025483ae459615169486ab99e9d45e05892dbcdb9ec7690d8facf1effbe0c587620447af0abbf171543e3984d94742248f9edef98996f902b809c0ed58b5b7c5ea91503e021777110bddcd7eac94bd2eeec75a47b61b20c4964f089f7076fa4cc2ced5a17d7c487759bc"}';
const ADDRESS_V1 = 'meme1vywuqspjczfy0d7tzdmsd9jcn0zn30gp2lw4t2';
const PASSWORD = 'correct horse battery';
const LONG = 120_000;

mkdirSync(OUT, { recursive: true });
const errors = [];
const pages = [];
let step = 'start';

function check(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

/// Serves `dir` as a plain static host would, with the headers of its `_headers` file: not a
/// relay. Resolves to its base URL.
function serveStatic(dir) {
  const headers = {};
  for (const line of readFileSync(join(dir, '_headers'), 'utf8').split('\n').slice(1)) {
    const m = line.trim().match(/^([^:]+):\s*(.*)$/);
    if (m) headers[m[1]] = m[2];
  }
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = path === '/' ? 'index.html' : path.slice(1);
    if (file.split('/').some((p) => p === '..' || p.startsWith('.'))) return res.writeHead(400).end();
    try {
      const body = readFileSync(join(dir, file));
      res.writeHead(200, { ...headers, 'content-type': types[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    servers.push(server);
    resolve(`http://127.0.0.1:${server.address().port}/`);
  }));
}
const servers = [];

async function open(browser, name, url, { clock = false, clockAt = null, onResponse = null, errorsTo = errors } = {}) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  const page = await context.newPage();
  // Counts the WebSockets the page's own thread opens: the client's are its worker's.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.mainThreadSockets = 0;
    // Tasks of 50 ms or more on the page's thread (the browser's "long tasks"), for the figure
    // printed at the end: how much the page stutters while its client works.
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask', buffered: true });
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.mainThreadSockets += 1;
      }
    };
  });
  if (onResponse) {
    page.on('requestfinished', async (r) => {
      const sizes = await r.sizes().catch(() => null);
      if (sizes) onResponse(sizes.responseBodySize);
    });
  }
  // A controllable clock that runs at real speed until the test moves it (auto-lock).
  if (clock) await page.clock.install();
  // A clock that starts at `clockAt` (Unix ms) and runs at real speed from there.
  if (clockAt !== null) await page.clock.install({ time: clockAt });
  page.on('console', (m) => {
    // The faucet's refusal is an HTTP 429, which Chromium logs: expected in that step only.
    const expected = step === 'faucet refusal' && /status of 429/.test(m.text());
    if (m.type() === 'error' && !expected) errorsTo.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errorsTo.push(`${name}: uncaught: ${e.message}`));
  pages.push([name, page]);
  await page.goto(url);
  return page;
}

const text = async (page, sel) => ((await page.locator(sel).textContent()) || '').trim();

async function waitText(page, sel, pred, what, timeout = LONG) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = await text(page, sel);
    if (pred(last)) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`timed out waiting for ${what} (${sel} says "${last}")`);
}

async function setPassword(page) {
  await page.locator('#screen-password').waitFor();
  await page.fill('#pw1', 'short');
  await page.fill('#pw2', 'short');
  await page.click('#pw-submit');
  check((await text(page, '#pw-error')).includes('at least 8'), 'a short password is refused');
  await page.fill('#pw1', PASSWORD);
  await page.fill('#pw2', `${PASSWORD}!`);
  await page.click('#pw-submit');
  check((await text(page, '#pw-error')).includes('differ'), 'different passwords are refused');
  await page.fill('#pw2', PASSWORD);
  await page.click('#pw-submit');
  await page.locator('#screen-home').waitFor({ timeout: LONG });
}

async function importWallet(page, phrase) {
  await page.getByRole('button', { name: 'Import a recovery phrase' }).click();
  await page.fill('#import-phrase', 'abandon abandon abandon');
  check(!(await text(page, '#import-check')).startsWith('✓'), 'a bad phrase is flagged');
  const label = await text(page, 'label[for="import-phrase"]');
  check(label.includes('12, 15, 18, 21 or 24 words'), `the label states every length the check accepts (${label})`);
  const words = phrase.split(' ');
  await page.fill('#import-phrase', [...words.slice(0, -1), 'zzzz'].join(' '));
  const last = await text(page, '#import-check');
  check(last === `word ${words.length} is not a BIP-39 word`, `the last word is named by its number, counted from 1 (${last})`);
  await page.fill('#import-phrase', phrase);
  check((await text(page, '#import-check')).startsWith('✓'), 'a good phrase is accepted');
  await page.getByRole('button', { name: 'Continue' }).click();
  await setPassword(page);
}

/// The widths of the lines `sel`'s text is laid out on, widest first.
async function lineWidths(page, sel) {
  return page.locator(sel).evaluate((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Map();
    for (const r of range.getClientRects()) {
      if (r.width < 1) continue;
      const top = Math.round(r.top);
      lines.set(top, (lines.get(top) || 0) + r.width);
    }
    return [...lines.values()].sort((x, y) => y - x);
  });
}

/// An address laid out on one line, or on lines of about equal length: no few characters left
/// alone on the last line.
async function checkNoOrphan(page, sel) {
  const widths = await lineWidths(page, sel);
  check(widths.length >= 1, `${sel} is laid out`);
  const ratio = widths[widths.length - 1] / widths[0];
  check(widths.length === 1 || ratio > 0.6, `${sel}'s lines are even (${widths.map(Math.round).join(', ')} px)`);
}

const verifiedBadge = (t) => /^verified, finalized at height \d+$/.test(t);

async function waitBalance(page, balance, stake) {
  await waitText(page, '#balance', (t) => t === balance, `balance ${balance}`);
  if (stake !== undefined) await waitText(page, '#stake', (t) => t === stake, `stake ${stake}`);
  check(verifiedBadge(await text(page, '#badge')), 'the balance is verified');
}

/// The review's outcome rows (core's preview against the proven account).
async function checkOutcome(page, balance, stake) {
  await page.locator('#screen-review').waitFor();
  const row = (name) => text(page, `#review dd[data-row="${name}"]`);
  const got = [await row('Balance after'), stake === undefined ? undefined : await row('Staked after')];
  check(got[0] === balance && got[1] === stake, `the review shows the outcome (${got.join(', ')})`);
}

/// Review → confirm → status until finalized; returns the statuses seen.
async function confirmAndFinalize(page, shotName) {
  await page.locator('#screen-review').waitFor();
  if (shotName) await shot(page, `${shotName}-review`);
  if (await page.locator('#review dd[data-row="To"]').count()) await checkNoOrphan(page, '#review dd[data-row="To"]');
  await page.click('#confirm');
  await page.locator('#screen-status').waitFor({ timeout: LONG });
  const seen = [];
  const deadline = Date.now() + LONG;
  for (;;) {
    const s = await page.locator('#steps').getAttribute('data-status');
    if (seen[seen.length - 1] !== s) seen.push(s);
    if (s === 'finalized') break;
    check(s !== 'dropped', 'the transaction is not dropped');
    check(Date.now() < deadline, `the transaction to be finalized (seen ${seen.join(' → ')})`);
    await page.waitForTimeout(150);
  }
  check(seen[0] === 'pending' || seen[0] === 'included', `status starts pending (${seen})`);
  const first = await text(page, '#steps li[data-step="pending"]');
  check(!first.includes('waiting'), `once in a block, the first step no longer reads as waiting (${first})`);
  const fin = await text(page, '#steps li[data-step="finalized"]');
  check(/block \d+, verified by proof/.test(fin), `finalized names its block (${fin})`);
  if (shotName) await shot(page, `${shotName}-finalized`);
  await page.click('#status-done');
  await page.locator('#screen-home').waitFor();
  return seen;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    // --- A: create a wallet -------------------------------------------------------------------
    step = 'create';
    let transferred = 0;
    const a = await open(browser, 'A', BASE, { onResponse: (bytes) => { transferred += bytes; } });
    await a.locator('#screen-welcome').waitFor({ timeout: 30_000 });
    await a.waitForTimeout(500);
    console.log(`first load: ${(transferred / 1024).toFixed(1)} KB over the network (bodies as sent)`);
    await shot(a, '01-welcome');
    // Proofs and relay connections run in a Web Worker: the page is connected (the header
    // says so), yet its own thread opened no WebSocket.
    step = 'worker';
    await a.waitForFunction(() => document.getElementById('net').classList.contains('ok'), null, { timeout: 30_000 });
    const workers = a.workers().map((w) => w.url());
    check(workers.some((u) => /\/js\/worker\.js$/.test(u)), `the client's worker runs (workers: ${workers.join(', ')})`);
    check(await a.evaluate(() => window.mainThreadSockets) === 0, 'no WebSocket on the page\'s thread');
    step = 'create';
    // Keyboard: the screen's heading has focus; Tab reaches the first action, Enter takes it.
    check(await a.evaluate(() => document.activeElement.tagName === 'H1'), 'the heading has focus');
    await a.keyboard.press('Tab');
    check(await a.evaluate(() => document.activeElement.id === 'go-create'),
      'the first action is reachable with the keyboard');
    await a.keyboard.press('Enter');
    await a.locator('#screen-create').waitFor();
    const words = await a.locator('#phrase-words li').allTextContents();
    check(words.length === 12, `12 words (${words.length})`);
    // The phrase is hidden until asked for, and cannot be confirmed before it was shown.
    check(await a.locator('#phrase-words').evaluate((el) => el.classList.contains('concealed')), 'the phrase starts hidden');
    check(await a.locator('#create-written').isDisabled(), '"I wrote it down" waits for the phrase to be shown');
    check(await a.locator('#copy-phrase').isHidden(), 'nothing to copy before it is shown');
    await shot(a, '02a-recovery-phrase-hidden');
    await a.click('#reveal-phrase');
    check(!(await a.locator('#phrase-words').evaluate((el) => el.classList.contains('concealed'))), 'the phrase is shown');
    // Each word's number is drawn inside the box (a list marker hung outside it).
    const inside = await a.locator('#phrase-words').evaluate((ol) => {
      const box = ol.getBoundingClientRect();
      return getComputedStyle(ol).listStyleType === 'none'
        && [...ol.children].every((li) => {
          const r = li.getBoundingClientRect();
          return r.left >= box.left && r.right <= box.right && /counter/.test(getComputedStyle(li, '::before').content);
        });
    });
    check(inside, 'the words\' numbers are inside the box');
    await a.click('#copy-phrase');
    await waitText(a, '#phrase-status', (t) => t.startsWith('Copied'), 'the phrase to be copied', 10_000);
    check(await a.evaluate(() => navigator.clipboard.readText()) === words.join(' '), 'the clipboard holds the phrase');
    await shot(a, '02-recovery-phrase');
    await a.click('#create-written');
    const inputs = a.locator('#confirm-fields input');
    check(await inputs.count() === 3, 'three words are asked');
    await a.getByRole('button', { name: 'Continue' }).click();
    const empty = await text(a, '#confirm-error');
    check(/^Type words #\d+, #\d+, and #\d+ from your phrase\.$/.test(empty), `empty words are asked for, not called wrong (${empty})`);
    for (let i = 0; i < 3; i += 1) await inputs.nth(i).fill('wrong');
    await a.getByRole('button', { name: 'Continue' }).click();
    check((await text(a, '#confirm-error')).includes('do not match'), 'wrong words are refused');
    for (let i = 0; i < 3; i += 1) {
      const index = Number(await inputs.nth(i).getAttribute('data-index'));
      await inputs.nth(i).fill(words[index]);
    }
    await shot(a, '03-confirm-words');
    await a.getByRole('button', { name: 'Continue' }).click();
    await setPassword(a);
    const addrA = await text(a, '#address');
    check(/^meme1[02-9ac-hj-np-z]+$/.test(addrA), `A has an address (${addrA})`);
    // The QR module is not part of the first load: it comes when Receive first opens.
    check(await a.locator('#qr svg').count() === 0, 'no QR code before Receive opens');
    await a.click('#show-qr');
    await a.locator('#qr svg').waitFor({ timeout: 10_000 });
    await a.click('#show-qr');
    const vault = await a.evaluate(() => localStorage.getItem('memecoin.vault'));
    check(vault && !words.some((w) => vault.includes(` ${w} `)), 'the vault is stored encrypted');

    // --- B: import a wallet -------------------------------------------------------------------
    step = 'import';
    const b = await open(browser, 'B', BASE, { clock: true });
    await b.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(b, PHRASE_B);
    check(await text(b, '#address') === ADDRESS_B, 'B imports to the expected address');

    // --- P: the same phrase with a BIP-39 passphrase is another wallet ------------------------
    step = 'passphrase';
    const p = await open(browser, 'P', BASE);
    await p.locator('#screen-welcome').waitFor({ timeout: LONG });
    await p.getByRole('button', { name: 'Import a recovery phrase' }).click();
    await p.fill('#import-phrase', PHRASE_B);
    await p.getByRole('button', { name: 'Continue' }).click();
    await p.locator('#screen-password').waitFor();
    check(await text(p, '#pw-address') === ADDRESS_B, 'without a passphrase, the first account is B\'s');
    await p.click('#pw-advanced summary');
    await p.fill('#passphrase', 'TREZOR');
    await waitText(p, '#pw-address', (t) => t === ADDRESS_B_TREZOR, 'the address with the passphrase', 10_000);
    check(ADDRESS_B_TREZOR !== ADDRESS_B, 'a passphrase gives another address');
    check((await text(p, '#pw-address-note')).includes('different passphrase'), 'the note says a wrong passphrase is not an error');
    await p.fill('#pw1', PASSWORD);
    await p.fill('#pw2', PASSWORD);
    // The passphrase is typed twice, hidden unless asked: a typo is another wallet, no error.
    check(await p.getAttribute('#passphrase', 'type') === 'password', 'the passphrase is hidden');
    await p.fill('#passphrase2', 'TREZ0R');
    await p.click('#pw-submit');
    await waitText(p, '#pw-error', (t) => t === 'The two passphrases differ.', 'a mistyped passphrase refused', 10_000);
    await p.fill('#passphrase2', 'TREZOR');
    await p.check('#passphrase-show');
    check(await p.getAttribute('#passphrase', 'type') === 'text', 'shown when asked');
    await shot(p, '22-import-with-passphrase');
    await p.click('#pw-submit');
    await p.locator('#screen-home').waitFor({ timeout: LONG });
    check(await text(p, '#address') === ADDRESS_B_TREZOR, 'the wallet opens on the passphrase\'s address');
    // The passphrase is in the vault: unlocking gives the same wallet.
    await p.reload();
    await p.locator('#screen-unlock').waitFor({ timeout: LONG });
    await p.fill('#unlock-pw', PASSWORD);
    await p.click('#unlock-submit');
    await p.locator('#screen-home').waitFor({ timeout: LONG });
    check(await text(p, '#address') === ADDRESS_B_TREZOR, 'the passphrase is kept in the vault');

    // --- an old vault (version 1, the phrase alone) still unlocks -----------------------------
    step = 'old vault';
    const ov = await open(browser, 'old-vault', BASE);
    await ov.locator('#screen-welcome').waitFor({ timeout: LONG });
    await ov.evaluate(([v, a]) => {
      localStorage.setItem('memecoin.vault', v);
      localStorage.setItem('memecoin.address', a);
    }, [VAULT_V1, ADDRESS_V1]);
    await ov.reload();
    await ov.locator('#screen-unlock').waitFor({ timeout: LONG });
    await ov.fill('#unlock-pw', 'hunter2');
    await ov.click('#unlock-submit');
    await ov.locator('#screen-home').waitFor({ timeout: LONG });
    check(await text(ov, '#address') === ADDRESS_V1, 'a version-1 vault opens on its address');
    check((await text(ov, '#account-select')).startsWith('Account 1 · meme1vywu'), 'as its first account');
    await shot(ov, '23-old-vault-unlocked');

    // --- A: faucet ------------------------------------------------------------------------------
    step = 'faucet';
    await a.locator('#faucet').waitFor({ state: 'visible', timeout: LONG });
    await a.click('#faucet');
    await waitText(a, '#faucet-status', (t) => t.includes('on the way'), 'the faucet to answer');
    const funded = `${env('FAUCET_AMOUNT')} MEME`;
    await waitBalance(a, funded, '0 MEME');
    await waitText(a, '#history li', (t) => t.includes('finalized in block'), 'the faucet transfer finalized in history');
    await a.locator('#blocks li[data-height]').first().waitFor();
    // The header speaks plainly.
    const net = await text(a, '#net');
    check(/^Online · block \d+$/.test(net), `the header says online and the newest block (${net})`);
    // The address wraps into even halves on a phone; Balance and Staked stay side by side,
    // whatever the amount's length.
    await checkNoOrphan(a, '#address');
    const sideBySide = () => a.evaluate(() => {
      const [x, y] = ['balance', 'stake'].map((id) => document.getElementById(id).parentElement.getBoundingClientRect());
      return Math.abs(x.top - y.top) < 1 && x.right <= y.left;
    });
    check(await sideBySide(), 'Balance and Staked side by side');
    const shown = await text(a, '#balance');
    await a.evaluate(() => { document.getElementById('balance').textContent = '123,456,789,012.123456789 MEME'; });
    check(await sideBySide(), 'Balance and Staked side by side with a long amount');
    await a.evaluate((t) => { document.getElementById('balance').textContent = t; }, shown);
    // "Waiting for blocks…" is one line, not a word a line.
    const hintLines = await a.evaluate(() => {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = 'Waiting for blocks…';
      document.getElementById('blocks').prepend(li);
      const range = document.createRange();
      range.selectNodeContents(li);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      li.remove();
      return lines;
    });
    check(hintLines === 1, `"Waiting for blocks…" on one line (${hintLines} lines)`);
    // "Latest blocks" skips no height: every height it ever lists, over three epochs (8 slots of
    // 0.5 s here), the first block of each epoch included.
    await a.evaluate(() => {
      window.seenHeights = new Set();
      const note = () => {
        for (const li of document.querySelectorAll('#blocks li[data-height]')) window.seenHeights.add(Number(li.dataset.height));
      };
      note();
      new MutationObserver(note).observe(document.getElementById('blocks'), { childList: true, subtree: true });
    });
    await a.waitForTimeout(13_000);
    const seenHeights = await a.evaluate(() => [...window.seenHeights].sort((x, y) => x - y));
    const holes = seenHeights.filter((h, i) => i > 0 && h - seenHeights[i - 1] !== 1);
    check(seenHeights.length >= 20 && holes.length === 0,
      `"Latest blocks" listed every height from ${seenHeights[0]} to ${seenHeights[seenHeights.length - 1]} (after a hole: ${holes.join(', ') || 'none'})`);
    // "Address copied." answers the click and goes; a faucet message goes with the screen.
    await a.click('#copy');
    await waitText(a, '#copy-status', (t) => t === 'Address copied.', 'the copy to be confirmed', 5000);
    await waitText(a, '#copy-status', (t) => t === '', 'the copy message to go', 10_000);
    // A second ask within the minute is refused with a countdown that counts, live.
    step = 'faucet refusal';
    await a.click('#faucet');
    const refusal = await waitText(a, '#faucet-status', (t) => /try again in \d+ s$/.test(t), 'the faucet\'s refusal');
    const secondsLeft = (t) => Number(t.match(/in (\d+) s$/)[1]);
    await waitText(a, '#faucet-status', (t) => /in \d+ s$/.test(t) && secondsLeft(t) < secondsLeft(refusal),
      'the countdown to move', 5000);
    step = 'faucet';
    await a.click('#go-send');
    await a.click('#screen-send button.back');
    await a.locator('#screen-home').waitFor();
    check(await text(a, '#faucet-status') === '', 'an old faucet message does not greet the user back');
    await a.click('#show-qr');
    await a.locator('#qr svg').waitFor({ timeout: 10_000 });
    await shot(a, '04-home-funded');
    await a.click('#show-qr');

    // --- A sends to B ---------------------------------------------------------------------------
    step = 'send';
    await a.click('#go-send');
    await a.locator('#screen-send').waitFor();
    check(await a.inputValue('#fee') === env('TRANSFER_FEE'), 'the fee defaults to the minimum');
    check(await text(a, '#send-available') === `Available: ${funded}`, `the available balance is shown (${await text(a, '#send-available')})`);
    await a.fill('#to', ADDRESS_B.slice(0, 20));
    const half = await text(a, '#to-check');
    check(half === `20 of ${ADDRESS_B.length} characters`, `a half-typed address is not called wrong (${half})`);
    await a.fill('#to', addrA);
    check((await text(a, '#to-check')).includes('your own address'), 'sending to yourself is pointed out');
    const typo = ADDRESS_B.slice(0, -1) + (ADDRESS_B.endsWith('q') ? 'p' : 'q');
    await a.fill('#to', typo);
    check((await text(a, '#to-check')).startsWith('Not a valid address'), 'a typo is caught live');
    await a.fill('#to', ADDRESS_B);
    check((await text(a, '#to-check')).startsWith('✓'), 'the right address passes');
    await a.fill('#amount', '1.0000000001');
    check((await text(a, '#amount-check')).includes('decimals'), 'too many decimals is an error');
    await a.fill('#amount', '5000');
    await a.getByRole('button', { name: 'Review' }).click();
    check((await text(a, '#send-error')).startsWith('Insufficient funds'), 'insufficient funds is an error');
    check((await text(a, '#fee-check')).startsWith('Minimum fee:'), 'the minimum fee stays in view after Review');
    await shot(a, '05-send-errors');
    await a.fill('#amount', '12.5');
    await a.getByRole('button', { name: 'Review' }).click();
    await checkOutcome(a, `${env('AFTER_SEND')} MEME`);
    const seen = await confirmAndFinalize(a, '06-send');
    console.log(`send statuses: ${seen.join(' → ')}`);
    await waitBalance(a, `${env('AFTER_SEND')} MEME`);
    await waitBalance(b, '12.5 MEME', '0 MEME');
    // A nonce set by hand (Advanced): not a number is refused at Review; one already used is
    // previewed by core as refused, and Confirm is off.
    step = 'nonce by hand';
    await a.click('#go-send');
    await a.fill('#to', ADDRESS_B);
    await a.fill('#amount', '1');
    await a.click('#send-advanced summary');
    check((await a.getAttribute('#nonce', 'placeholder')) === 'next: 1', 'the next nonce is shown');
    await a.fill('#nonce', 'x');
    await a.getByRole('button', { name: 'Review' }).click();
    check((await text(a, '#nonce-check')).startsWith('A nonce is a whole number'), 'a nonce that is not a number is refused');
    await a.fill('#nonce', '0');
    await a.getByRole('button', { name: 'Review' }).click();
    await a.locator('#screen-review').waitFor();
    const outcome = await text(a, '#review dd[data-row="Outcome"]');
    check(outcome === 'will be refused: nonce 0, the account\'s next is 1', `a used nonce is refused by core at review (${outcome})`);
    check(await a.locator('#confirm').isDisabled(), 'what would be refused cannot be sent');
    await shot(a, '06b-review-refused');
    await a.click('#review-edit');
    await a.click('#screen-send button.back');
    await a.locator('#screen-home').waitFor();
    // B never sent anything: its history comes from the relay's listing, each entry proved.
    await waitText(b, '#history li', (t) => t.startsWith('Received from') && t.includes('+12.5 MEME')
      && t.includes('finalized in block'), 'B\'s history to show the proved transfer');
    await shot(b, '07-home-b-received');

    // --- A stakes -------------------------------------------------------------------------------
    step = 'stake';
    await a.click('#go-stake');
    await a.locator('#screen-stake').waitFor();
    check((await text(a, '#unbonding-delay')).includes('epochs'), 'the unbonding delay is shown');
    await shot(a, '08-stake');
    await a.fill('#stake-amount', '2');
    await a.getByRole('button', { name: 'Review' }).click();
    await checkOutcome(a, `${env('AFTER_STAKE')} MEME`, '2 MEME');
    await confirmAndFinalize(a, null);
    await waitBalance(a, `${env('AFTER_STAKE')} MEME`, '2 MEME');
    await shot(a, '09-home-staked');

    // --- A unstakes part: it shows as unbonding, with the epoch it is paid back ----------------
    step = 'unstake';
    await a.click('#go-stake');
    await a.check('input[name="stake-kind"][value="unstake"]');
    await a.fill('#stake-amount', '0.5');
    await a.getByRole('button', { name: 'Review' }).click();
    check((await text(a, '#review')).includes('after'), 'the review says when it is paid back');
    await checkOutcome(a, `${env('AFTER_UNSTAKE')} MEME`, '1.5 MEME');
    await confirmAndFinalize(a, null);
    await waitBalance(a, `${env('AFTER_UNSTAKE')} MEME`, '1.5 MEME');
    await waitText(a, '#unbonding', (t) => /^0\.5 MEME unbonding, paid back from epoch \d+ \(this is epoch \d+/.test(t),
      'the unbonding entry, with the current epoch');
    const rows = await a.locator('#history li[data-tx]').evaluateAll((lis) => lis.map((li) => ({
      text: li.textContent,
      amount: li.querySelector('.amount-col').textContent,
      right: Math.round(li.querySelector('.amount-col').getBoundingClientRect().right),
    })));
    const signOf = (kind) => rows.find((r) => r.text.startsWith(kind)).amount[0];
    check(signOf('Staked') === '−' && signOf('Unstaked') === '+' && signOf('Sent') === '−' && signOf('Test coins') === '+',
      `every amount in Activity has its sign (${rows.map((r) => r.amount).join(', ')})`);
    check(new Set(rows.map((r) => r.right)).size === 1, `Activity's amounts are aligned (${rows.map((r) => r.right).join(', ')})`);

    // --- reload, wrong password, unlock ---------------------------------------------------------
    step = 'reload';
    await a.reload();
    await a.locator('#screen-unlock').waitFor({ timeout: LONG });
    await a.fill('#unlock-pw', 'not the password');
    await a.click('#unlock-submit');
    await waitText(a, '#unlock-error', (t) => t === 'Wrong password.', 'a wrong password to be refused', 30_000);
    await shot(a, '10-unlock-wrong-password');
    check(await a.locator('#screen-home').isHidden(), 'a wrong password does not unlock');
    await a.fill('#unlock-pw', PASSWORD);
    await a.click('#unlock-submit');
    await a.locator('#screen-home').waitFor({ timeout: LONG });
    check(await text(a, '#address') === addrA, 'the same wallet unlocks');
    await waitBalance(a, `${env('AFTER_UNSTAKE')} MEME`, '1.5 MEME');
    // The position it resumed from is kept sealed with a key from the phrase.
    const saved = await a.evaluate(() => Object.keys(localStorage)
      .filter((k) => k.startsWith('memecoin.checkpoint.')).map((k) => [k, localStorage.getItem(k)]));
    check(saved.length === 1 && /^[0-9a-f]{64}$/.test(JSON.parse(saved[0][1]).mac), 'the checkpoint is saved sealed');
    await a.click('#lock');
    await a.locator('#screen-unlock').waitFor();

    // Storage rewritten behind the wallet's back (another position under the old seal): the
    // wallet does not resume from it, says so, and verifies from the chain spec instead.
    step = 'forged checkpoint';
    // Changed once the page is locked and its client stopped (after a reload: a running client
    // seals and saves each new finality, which could write over the change).
    await a.reload();
    await a.locator('#screen-unlock').waitFor({ timeout: LONG });
    check((await text(a, '#net')).includes('connects once unlocked'), 'nothing is followed before the seal is checked');
    await a.evaluate(([k, v]) => {
      const { checkpoint, mac } = JSON.parse(v);
      const last = checkpoint.slice(-1) === '0' ? '1' : '0';
      localStorage.setItem(k, JSON.stringify({ checkpoint: checkpoint.slice(0, -1) + last, mac }));
    }, saved[0]);
    await a.fill('#unlock-pw', PASSWORD);
    await a.click('#unlock-submit');
    await a.locator('#screen-home').waitFor({ timeout: LONG });
    await waitText(a, '#warnings', (t) => t.includes('The saved position was not used'), 'the forged checkpoint warning');
    await waitBalance(a, `${env('AFTER_UNSTAKE')} MEME`, '1.5 MEME');
    await shot(a, '10b-forged-checkpoint');
    await a.click('#lock');
    await a.locator('#screen-unlock').waitFor();

    // --- lying relays ---------------------------------------------------------------------------
    step = 'liar: balance';
    const lb = await open(browser, 'liar-balance', `${BASE}?relay=${encodeURIComponent(env('LIAR_BALANCE'))}`);
    await lb.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(lb, PHRASE_B);
    await lb.locator('#warnings .warning').first().waitFor({ timeout: LONG });
    await waitText(lb, '#badge', (t) => t.startsWith('not verified:'), 'the badge to say not verified');
    check(await text(lb, '#balance') === '—', 'no balance is shown as fact');
    const body = await text(lb, 'body');
    check(!body.includes('1000012.5') && !body.includes('1,000,012.5'), 'the forged balance is never shown');
    await shot(lb, '11-lying-relay-balance');

    step = 'liar: certificate';
    const lc = await open(browser, 'liar-cert', `${BASE}?relay=${encodeURIComponent(env('LIAR_CERT'))}`);
    await lc.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(lc, PHRASE_B);
    await lc.locator('#warnings .warning').first().waitFor({ timeout: LONG });
    await lc.waitForTimeout(2000);
    check(!verifiedBadge(await text(lc, '#badge')), 'nothing is verified through a forged certificate');
    check(await text(lc, '#balance') === '—', 'no balance is shown without verified finality');
    check((await text(lc, '#badge')).startsWith('not verified:'), 'the badge says not verified');
    await shot(lc, '12-lying-relay-certificate');

    // A relay and an elected proposer together: a signed head over a made-up state. At a
    // plausible height it shows, labelled "not final yet", beside the finalized balance it never
    // replaces; at height 10^15 it is refused.
    step = 'liar: head balance';
    const lh = await open(browser, 'liar-head', `${BASE}?relay=${encodeURIComponent(env('LIAR_HEAD'))}`);
    await lh.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(lh, PHRASE_B);
    await waitText(lh, '#head-state', (t) => /^In block \d+, not final yet: balance 1,000,012\.5 MEME/.test(t),
      'the forged head state to show as not final');
    await waitText(lh, '#badge', (t) => /^verified, finalized at height \d+$/.test(t), 'the finalized badge');
    check(await text(lh, '#balance') === '12.5 MEME', 'the finalized balance stays the main number');
    await shot(lh, '13-head-state-not-final');

    step = 'liar: tall head';
    const lt = await open(browser, 'liar-tall', `${BASE}?relay=${encodeURIComponent(env('LIAR_HEAD_TALL'))}`);
    await lt.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(lt, PHRASE_B);
    await waitText(lt, '#warnings', (t) => t.includes('above its slot'), 'the implausible height to be named');
    const tallBody = await text(lt, 'body');
    check(!tallBody.includes('1,000,012.5') && !tallBody.includes('1000012.5'), 'the forged balance is never shown');
    check(!(await text(lt, '#badge')).startsWith('verified, finalized at height 1000000000000000'),
      'the forged height is never shown as verified');
    check(!(await text(lt, '#head-state')).includes('1,000,012.5'), 'nor as a head state');
    await shot(lt, '14-head-too-tall');

    // A relay that swallows transactions, listed first, beside the honest one: the wallet sends
    // to both, and the payment is finalized.
    step = 'liar: swallow';
    const honest = BASE.replace(/^http/, 'ws').replace(/\/?$/, '/ws');
    const relays = [env('LIAR_SWALLOW'), honest].map((u) => `relay=${encodeURIComponent(u)}`).join('&');
    const ls = await open(browser, 'liar-swallow', `${BASE}?${relays}`);
    await ls.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(ls, PHRASE_B);
    await waitText(ls, '#badge', (t) => t.startsWith('verified, finalized'), 'B verified through two relays');
    await ls.click('#go-send');
    await ls.locator('#screen-send').waitFor();
    await ls.fill('#to', addrA);
    await ls.fill('#amount', '1');
    await ls.getByRole('button', { name: 'Review' }).click();
    await confirmAndFinalize(ls, '15-swallowing-relay');

    // The static bundle, from a host that is not a relay: it loads under its own CSP and
    // integrity, connects to the relay it pins, and verifies as the relay-served page does.
    step = 'static bundle';
    const bundleDir = env('BUNDLE_DIR');
    const bundled = await open(browser, 'bundle', await serveStatic(bundleDir));
    await bundled.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(bundled, PHRASE_B);
    await waitText(bundled, '#badge', (t) => t.startsWith('verified, finalized'), 'the bundle to verify B');
    await shot(bundled, '19-static-bundle');
    // Its client runs in a worker started from the pinned bytes (a `blob:` URL).
    check(bundled.workers().some((w) => w.url().startsWith('blob:')), 'the bundle\'s client runs in a worker');
    check(await bundled.evaluate(() => window.mainThreadSockets) === 0, 'no WebSocket on the bundle page\'s thread');
    // One byte of the worker changed: its pinned hash stops the client before it starts.
    const badWorkerDir = join(OUT, 'tampered-worker');
    rmSync(badWorkerDir, { recursive: true, force: true });
    cpSync(bundleDir, badWorkerDir, { recursive: true });
    for (const file of readdirSync(join(badWorkerDir, 'js')).filter((f) => f.startsWith('worker.'))) {
      const path = join(badWorkerDir, 'js', file);
      writeFileSync(path, readFileSync(path, 'utf8').replace('let client', 'let  client'));
    }
    const workerErrors = [];
    const badWorker = await open(browser, 'tampered-worker', await serveStatic(badWorkerDir), { errorsTo: workerErrors });
    await waitText(badWorker, '#loading-error', (t) => /could not start/.test(t), 'a tampered worker stops the wallet');
    check(badWorker.workers().length === 0, 'no worker runs from tampered bytes');
    check(workerErrors.some((e) => /integrity/i.test(e)), `the browser names the integrity check (${workerErrors.join('; ')})`);
    // One byte of the wasm glue changed: the import map's integrity stops the page.
    const tamperedDir = join(OUT, 'tampered-bundle');
    rmSync(tamperedDir, { recursive: true, force: true }); // no glue of an earlier run
    cpSync(bundleDir, tamperedDir, { recursive: true });
    for (const glue of readdirSync(join(tamperedDir, 'pkg')).filter((f) => f.endsWith('.js'))) {
      const glueFile = join(tamperedDir, 'pkg', glue);
      writeFileSync(glueFile, readFileSync(glueFile, 'utf8').replace('function', 'function '));
    }
    const refused = [];
    const tampered = await open(browser, 'tampered', await serveStatic(tamperedDir), { errorsTo: refused });
    await tampered.waitForTimeout(3000);
    check(await tampered.locator('#screen-welcome').isHidden(), 'a tampered bundle does not start');
    check(refused.some((e) => /integrity/i.test(e)), `the browser names the integrity check (${refused.join('; ')})`);

    // A position older than the weak-subjectivity bound (the page's clock two hours on, so
    // genesis is far older than its 76 s bound): the wallet does not follow proofs from it; it
    // starts again from a checkpoint its sources agree on, and says so.
    step = 'expired position';
    const old = await open(browser, 'expired', BASE, { clockAt: Date.now() + 2 * 3600 * 1000 });
    await old.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(old, PHRASE_B);
    await waitText(old, '#warnings', (t) => t.includes('Started again from a recent checkpoint'), 'the checkpoint notice');
    check((await text(old, '#warnings')).includes('1 source agreed'), 'the notice names its one source');
    await waitText(old, '#badge', (t) => t.startsWith('verified, finalized'), 'B verified from the checkpoint');
    await shot(old, '20-expired-position');

    // Finality that does not move: the badge says how old the state is, and a warning says
    // finality has stalled.
    step = 'stale finality';
    const st = await open(browser, 'stale', `${BASE}?relay=${encodeURIComponent(env('LIAR_STALE'))}`);
    await st.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(st, PHRASE_B);
    await waitText(st, '#warnings', (t) => t.includes('Finality has stalled'), 'the stall warning');
    // Nothing newer than genesis is final through this relay: no number is shown as final.
    await waitText(st, '#badge', (t) => t.endsWith('finality has stalled'), 'the badge to say finality has stalled');
    check(await text(st, '#balance') === '—', 'no balance is shown as final');
    await shot(st, '16-finality-stalled');

    // A relay of another chain: why it is not used is on the page, not only in the relay's log.
    step = 'other chain';
    const oc = await open(browser, 'other-chain', `${BASE}?relay=${encodeURIComponent(env('OTHER_CHAIN'))}`);
    await waitText(oc, '#relay-problems', (t) => t.includes('another chain'), 'the relay\'s refusal reason');
    await waitText(oc, '#warnings', (t) => t.includes('A relay refused this wallet'), 'a warning naming the relay');
    await shot(oc, '17-relay-of-another-chain');

    // (After the liars and the swallowed payment, whose checks know B's balance; before the
    // conflicting finality, after which the devnet's one validator is slashed.)
    // --- B: accounts, a payment request, contacts, watch-only ----------------------------------
    step = 'accounts';
    await b.click('#add-account');
    await waitText(b, '#address', (t) => t === ADDRESS_B_1, 'the second account (index 1)', 10_000);
    check(await b.locator('#account-select option').count() === 2, 'two accounts');
    await b.click('#rename-account');
    await b.fill('#rename-name', 'Savings');
    await b.click('#rename-save');
    const selected = () => b.locator('#account-select option:checked').textContent();
    check((await selected()).startsWith('Savings · meme1'), `the account is renamed (${await selected()})`);
    await shot(b, '24-accounts');
    // Receive to it: the QR code holds a meme: request with an amount and a note.
    await b.click('#show-qr');
    await b.fill('#request-amount', '2');
    await b.fill('#request-memo', 'Rent for May');
    const request = await text(b, '#request-uri');
    check(request === `meme:${ADDRESS_B_1}?amount=2&memo=Rent%20for%20May`, `the QR's payment request (${request})`);
    await b.locator('#qr svg').waitFor({ timeout: 10_000 });
    await shot(b, '25-receive-request');
    await b.click('#show-qr');
    // Account 1 pays it: the request pasted into the send form fills address and amount.
    await b.selectOption('#account-select', '0');
    await waitText(b, '#address', (t) => t === ADDRESS_B, 'account 1 again', 10_000);
    await waitText(b, '#badge', verifiedBadge, 'account 1 verified');
    await b.click('#go-send');
    await b.fill('#to', request);
    check(await b.inputValue('#to') === ADDRESS_B_1, 'the request fills the address');
    check(await b.inputValue('#amount') === '2', 'the request fills the amount');
    check((await text(b, '#send-memo')).includes('Rent for May'), 'the payee\'s note is shown');
    check((await text(b, '#to-check')).includes('your account "Savings"'), 'the recipient is named');
    await shot(b, '26-send-from-request');
    await b.getByRole('button', { name: 'Review' }).click();
    check((await text(b, '#review dd[data-row="Payee\'s note"]')).startsWith('Rent for May'), 'the review shows the note, not sent');
    await confirmAndFinalize(b, null);
    await b.selectOption('#account-select', '1');
    await waitBalance(b, '2 MEME', '0 MEME');
    await waitText(b, '#history', (t) => t.includes('Received from Account 1'), 'Activity names the paying account');
    // Account 2 pays a new address, saved as a contact from the send form.
    await b.click('#go-send');
    await b.fill('#to', ADDRESS_B_TREZOR);
    await b.locator('#to-save').waitFor();
    await b.click('#to-save');
    await b.locator('#screen-contacts').waitFor();
    check(await b.inputValue('#contact-address') === ADDRESS_B_TREZOR, 'the contact form has the address');
    await b.fill('#contact-name', 'Trezor friend');
    await b.click('#contact-save');
    await b.locator('#screen-send').waitFor();
    check((await text(b, '#to-check')).includes('contact "Trezor friend"'), 'the send form names the contact');
    await b.fill('#amount', '1');
    await b.getByRole('button', { name: 'Review' }).click();
    check(await text(b, '#review dd[data-row="Recipient"]') === 'contact "Trezor friend"', 'the review names the contact');
    check(await text(b, '#review dd[data-row="Account"]') === 'Savings', 'the review names the paying account');
    await confirmAndFinalize(b, '27-send-from-account-2');
    // Signed with account index 1: the relay counts the transaction on that account's nonce.
    const relayAccount = async (addr) => (await fetch(`${BASE}api/accounts/${addr}`)).json();
    check(String((await relayAccount(ADDRESS_B_1)).nonce) === '1', 'the relay reports the transfer from account 2');
    await waitText(b, '#history', (t) => t.includes('Sent to Trezor friend'), 'Activity names the contact');
    await b.click('#go-send');
    check(await b.locator('#to-contact option', { hasText: 'Trezor friend' }).count() === 1, 'the picker offers the contact');
    await b.selectOption('#to-contact', { label: 'Trezor friend' });
    check(await b.inputValue('#to') === ADDRESS_B_TREZOR, 'picking a contact fills the address');
    await b.click('#screen-send button.back');
    await shot(b, '28-activity-names');
    // A watch-only address: verified balance, no Send or Stake.
    step = 'watch-only';
    await b.click('#go-watch');
    await b.fill('#watch-name', 'Friend (watched)');
    await b.fill('#watch-address', ADDRESS_B_TREZOR.slice(0, 20));
    check(await text(b, '#watch-check') === `20 of ${ADDRESS_B_TREZOR.length} characters`, 'a half-typed address is counted');
    await b.fill('#watch-address', ADDRESS_B_TREZOR);
    await b.getByRole('button', { name: 'Watch', exact: true }).click();
    await b.locator('#screen-home').waitFor();
    await waitBalance(b, '1 MEME', '0 MEME');
    check(await b.locator('#go-send').isDisabled() && await b.locator('#go-stake').isDisabled(), 'Send and Stake are off');
    check((await text(b, '#watch-note')).startsWith('Watch-only: this wallet has no key for it'), 'and why');
    await shot(b, '29-watch-only');
    await b.selectOption('#account-select', '0');
    await waitText(b, '#address', (t) => t === ADDRESS_B, 'account 1 again', 10_000);
    check(await b.locator('#go-send').isEnabled(), 'Send is back for a keyed account');
    // A watched address is not "your account": no key for it here.
    await b.click('#go-send');
    await b.fill('#to', ADDRESS_B_TREZOR);
    await waitText(b, '#to-check', (t) => t.includes('watched address (no key here) "Friend (watched)"'), 'a watched address named as watched', 10_000);
    await b.click('#screen-send button.back');
    // Storage edited behind the page's back: Savings pointed at another address, and a watched
    // entry that is no address. At unlock the keyed address is derived again, the bad entry is
    // dropped, and the wallet opens.
    step = 'accounts: edited storage';
    await b.evaluate(([other]) => {
      const stored = JSON.parse(localStorage.getItem('memecoin.accounts'));
      stored.list.find((a) => a.name === 'Savings').address = other;
      stored.list.push({ name: 'Junk', address: 'meme1notanaddress', watch: true });
      localStorage.setItem('memecoin.accounts', JSON.stringify(stored));
    }, [ADDRESS_B_TREZOR]);
    await b.reload();
    await b.locator('#screen-unlock').waitFor({ timeout: LONG });
    await b.fill('#unlock-pw', PASSWORD);
    await b.click('#unlock-submit');
    await b.locator('#screen-home').waitFor({ timeout: LONG });
    const options = await b.locator('#account-select option').allTextContents();
    check(options.length === 3 && !options.some((o) => o.startsWith('Junk')), `the bad entry is dropped (${options.join(' | ')})`);
    await b.selectOption('#account-select', { index: options.findIndex((o) => o.startsWith('Savings')) });
    await waitText(b, '#address', (t) => t === ADDRESS_B_1, 'Savings derived again from the phrase', 10_000);
    // Remove: the watched address goes; the first account cannot.
    step = 'accounts: remove';
    await b.selectOption('#account-select', { index: options.findIndex((o) => o.startsWith('Friend (watched)')) });
    b.once('dialog', (d) => d.accept());
    await b.click('#remove-account');
    await waitText(b, '#address', (t) => t === ADDRESS_B, 'back on the first account', 10_000);
    check(await b.locator('#account-select option').count() === 2, 'the watched address is removed');
    b.once('dialog', (d) => d.accept());
    await b.click('#remove-account');
    await waitText(b, '#accounts-status', (t) => t === 'The first account cannot be removed.', 'the first account stays');
    step = 'accounts';

    // --- B speeds up and cancels a pending transfer --------------------------------------------
    // Sent at the nonce after the next (by hand), it waits in the pool behind the gap, where it
    // can be replaced: sped up (same, higher fee), then cancelled (the smallest amount to
    // itself, higher fee again). The gap filled, the cancel is what a block includes.
    step = 'speed up and cancel';
    await b.click('#go-send');
    await b.fill('#to', addrA);
    await b.fill('#amount', '1');
    await b.click('#send-advanced summary');
    const next = BigInt((await b.getAttribute('#nonce', 'placeholder')).replace('next: ', ''));
    await b.fill('#nonce', String(next + 1n));
    await b.getByRole('button', { name: 'Review' }).click();
    await b.locator('#screen-review').waitFor();
    await b.click('#confirm');
    await b.locator('#screen-status').waitFor({ timeout: LONG });
    await b.locator('#status-actions').waitFor({ state: 'visible', timeout: LONG });
    const idOf = async () => (await text(b, '#status-detail')).replace('transaction ', '');
    const original = await idOf();
    await b.click('#speed-up');
    await waitText(b, '#status-detail', (t) => !t.endsWith(original), 'the sped-up transaction to be tracked', 30_000);
    const faster = await idOf();
    await b.locator('#status-actions').waitFor({ state: 'visible', timeout: LONG });
    await b.click('#cancel-tx');
    await waitText(b, '#status-detail', (t) => !t.endsWith(faster), 'the cancel to be tracked', 30_000);
    const cancel = await idOf();
    check((await text(b, '#status-summary')).startsWith('Cancelled (to yourself)'), 'the status screen follows the cancel');
    await shot(b, '21-cancel-pending');
    await b.click('#status-done');
    await b.locator('#screen-home').waitFor();
    for (const id of [original, faster]) {
      check((await text(b, `#history li[data-tx="${id}"]`)).includes('replaced by a higher fee'), `${id} shows as replaced`);
    }
    await b.click('#go-send');
    await b.fill('#to', addrA);
    await b.fill('#amount', '1');
    await b.click('#send-advanced summary');
    await b.fill('#nonce', String(next));
    await b.getByRole('button', { name: 'Review' }).click();
    await confirmAndFinalize(b, null);
    await waitText(b, `#history li[data-tx="${cancel}"]`, (t) => t.includes('finalized in block'), 'the cancel to be finalized');
    // The cancel took the nonce: the two it replaced are closed as superseded (never "dropped,
    // try again"), and not counted as spent.
    for (const id of [original, faster]) {
      await waitText(b, `#history li[data-tx="${id}"]`, (t) => t.includes('not included: another transaction at its nonce was'),
        `${id} to be superseded`, 30_000);
    }

    // Conflicting finality from a second relay: the wallet stops, says so, and sends nothing.
    // (Last of the steps that need blocks: the evidence it sends gets the devnet's one validator
    // slashed, and the chain stops. It used to come before the speed-up, which then raced it.)
    step = 'conflicting finality';
    const fk = await open(browser, 'fork', `${BASE}?relay=${encodeURIComponent(honest)}&relay=${encodeURIComponent(env('LIAR_FORK'))}`);
    await fk.locator('#screen-welcome').waitFor({ timeout: LONG });
    await importWallet(fk, PHRASE_B);
    await waitText(fk, '#warnings', (t) => t.includes('Conflicting finality: this wallet has stopped'), 'the alarm');
    check(await fk.locator('#go-send').isDisabled(), 'sending is blocked after the alarm');
    check(await fk.locator('#go-stake').isDisabled(), 'staking is blocked after the alarm');
    await shot(fk, '18-conflicting-finality');

    // --- auto-lock: B has been idle; six minutes later (default 5) it is locked ----------------
    step = 'auto-lock';
    check(await b.locator('#screen-home').isVisible(), 'B is unlocked before the idle time');
    await b.clock.fastForward('06:00');
    await b.locator('#screen-unlock').waitFor({ timeout: 10_000 });
    check(await b.locator('#lock').isHidden(), 'B is locked after being idle');

    // A figure, not a check (BENCHMARKS.md "Wallet page"): the page's long tasks over the
    // life of A since its last reload (unlock, catch-up from its sealed checkpoint, reads) with
    // the client in a worker.
    const long = await a.evaluate(() => window.longTasks);
    console.log(`page A long tasks: ${long.length}, longest ${Math.max(0, ...long)} ms, total ${long.reduce((x, y) => x + y, 0)} ms`);
    step = 'console';
    if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`);
    console.log('e2e: 1 passed, 0 failed');
  } catch (e) {
    for (const [name, page] of pages) {
      await page.screenshot({ path: join(OUT, `failure-${name}.png`), fullPage: true }).catch(() => {});
    }
    if (errors.length) console.error(`console errors:\n${errors.join('\n')}`);
    console.error(`e2e failed at step "${step}": ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    for (const server of servers) server.close();
  }
}

await main();
