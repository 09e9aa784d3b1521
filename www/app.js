// memecoin's wallet page. Plain ES module over the wasm package (./pkg, built by
// `cargo xtask page`): keys, the vault, signing and the verifying relay client are all in wasm;
// this file is screens and glue. Amounts are BigInt base units everywhere and are converted
// to and from text only by the wasm `parse_amount`/`format_amount` (exact, no floating point).
// Nothing secret leaves this file: the phrase is used only for local signing, and stored only
// encrypted (the wasm vault) in localStorage.

import init, * as w from './pkg/memecoin_wasm.js';
import { renderSVG } from './vendor/uqr.js';

const $ = (id) => document.getElementById(id);
const store = window.localStorage;
const VAULT = 'memecoin.vault';
const ADDRESS = 'memecoin.address';
const AUTOLOCK = 'memecoin.autolock';
/// Set in a static bundle (`cargo xtask wallet`, tools/wallet/bundle.mjs): the chain spec and
/// the wasm, each with its SHA-384 (checked by the browser as `integrity`), and the relays to
/// use. `null` when a relay serves the page (devnets): then `genesis.json` and `/ws` are its.
const BUNDLE = null;
const HISTORY_LEN = 50;
const BLOCKS_LEN = 8;
const WARNING_LOG = 20;
/// An entry of the relay's account listing not proven within this time is forgotten.
const LISTED_TTL_MS = 2 * 60 * 1000;

const app = {
  genesisJson: null,
  chainName: '',
  chainId: '',
  client: null,
  params: null,
  phrase: null, // only while unlocked
  address: null,
  account: null, // the account at the highest verified finalized block read
  headAccount: null, // the account in a verified block above it: not final, never in its place
  alarm: null, // conflicting finality: the wallet has stopped (kept in storage)
  stalled: false, // finality has not moved for more than 3 epochs
  openSince: null, // when a relay was first open (no stall is called while catching up)
  accountProblem: null, // why a relay's account failed verification (the number is hidden)
  accountWaiting: null, // why no account could be proved yet (not a lie)
  head: null,
  finalized: null,
  relays: new Map(),
  blocks: [],
  history: [],
  draft: null, // the phrase being created
  pendingPhrase: null, // phrase waiting for a password
  action: null, // the transaction under review
  tracking: null, // tx id shown on the status screen
  lastActivity: Date.now(),
  faucet: null,
  warnings: new Map(),
  warningLog: [],
  hideDust: true, // small payments from senders never seen before are hidden
};

// ---------------------------------------------------------------------------------------------
// Screens
// ---------------------------------------------------------------------------------------------

function show(name) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `screen-${name}`;
  $('lock').hidden = !app.phrase;
  const h = document.querySelector(`#screen-${name} h1`);
  if (h) h.focus();
  app.screen = name;
}

function setText(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

function errorMessage(e) {
  return (e && e.message) || String(e);
}

/// An amount for reading: the exact text of `format_amount`, its whole part grouped by
/// thousands (`1,000,000.5 MEME`). Fields that are typed into use `format_amount` as is.
function fmt(units) {
  const [whole, frac] = w.format_amount(units).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${grouped}${frac === undefined ? '' : `.${frac}`} ${w.ticker()}`;
}

function shortHash(h) {
  return h ? `${h.slice(0, 8)}…` : '';
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

async function start() {
  try {
    if (BUNDLE) {
      await init({ module_or_path: fetch(BUNDLE.wasm[0], { integrity: BUNDLE.wasm[1] }) });
    } else {
      await init();
    }
    const res = BUNDLE
      ? await fetch(BUNDLE.genesis[0], { integrity: BUNDLE.genesis[1] })
      : await fetch('genesis.json', { cache: 'no-store' });
    if (!res.ok) throw new Error('this page ships without a chain spec (genesis.json)');
    app.genesisJson = await res.text();
    app.chainName = JSON.parse(app.genesisJson).chain_name || 'memecoin';
  } catch (e) {
    setText('loading-error', `The wallet could not start: ${errorMessage(e)}`);
    return;
  }
  $('autolock').value = store.getItem(AUTOLOCK) || '5';
  wire();
  try {
    await connect();
  } catch (e) {
    setText('loading-error', `The wallet could not start: ${errorMessage(e)}`);
    return;
  }
  if (store.getItem(VAULT)) {
    lockedScreen();
  } else {
    show('welcome');
  }
  detectFaucet();
}

/// Relays to use: `?relay=ws://…` (repeatable), else a bundle's pinned relays, else the relay that
/// served this page.
function relayUrls() {
  const asked = new URLSearchParams(location.search).getAll('relay').filter((u) => /^wss?:\/\//.test(u));
  if (asked.length) return asked;
  if (BUNDLE && BUNDLE.relays.length) return [...new Set([...BUNDLE.relays, ...BUNDLE.sources])];
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return [`${scheme}://${location.host}/ws`];
}

/// Where the verified checkpoint is kept: one per chain spec (keyed by the spec's SHA-256).
async function checkpointKey() {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(app.genesisJson));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `memecoin.checkpoint.${hex}`;
}

async function connect() {
  const urls = relayUrls();
  for (const u of urls) app.relays.set(u, { state: 'connecting' });
  app.checkpointKey = await checkpointKey();
  const saved = store.getItem(app.checkpointKey);
  let client = null;
  if (saved) {
    try {
      client = w.Client.resume(app.genesisJson, saved, urls, onEvent);
    } catch {
      store.removeItem(app.checkpointKey);
    }
  }
  if (!client) client = new w.Client(app.genesisJson, urls, onEvent);
  app.client = client;
  app.chainId = client.chain_id();
  app.params = client.params();
  const alarm = store.getItem(alarmKey());
  if (alarm) raiseAlarm(alarm);
  setText('chain', `${app.chainName} · chain ${shortHash(app.chainId)}`);
  renderNet();
  setInterval(tick, 1000);
}

async function detectFaucet() {
  // A bundle talks to relays over WebSockets only (its CSP allows no other host's HTTP API).
  if (BUNDLE || !/devnet/.test(app.chainName)) return;
  try {
    const res = await fetch('api/faucet');
    if (!res.ok) return;
    app.faucet = await res.json();
    $('faucet').hidden = false;
  } catch {
    // No faucet: the button stays hidden.
  }
}

// ---------------------------------------------------------------------------------------------
// Client events
// ---------------------------------------------------------------------------------------------

function onEvent(e) {
  switch (e.type) {
    case 'relay':
      app.relays.set(e.url, { state: e.state, retry_ms: e.retry_ms, reason: e.reason });
      if (e.state === 'open' && !app.openSince) app.openSince = Date.now();
      if (e.reason && /^closed by the relay|another chain|protocol version/.test(e.reason)) {
        warn(`relay:${e.url}`, 'A relay refused this wallet', `${e.url}: ${e.reason}`);
      }
      renderNet();
      break;
    case 'head':
      app.head = e.anchor;
      addBlock(e.anchor, e.proposer);
      renderNet();
      break;
    case 'finalized':
      app.finalized = e.anchor;
      renderNet();
      renderBlocks();
      if (app.alarm) break; // nothing this client verifies is kept after conflicting finality
      try {
        store.setItem(app.checkpointKey, app.client.checkpoint());
      } catch {
        // Storage full or unavailable: resuming starts from genesis again.
      }
      refreshAccount();
      refreshHistory();
      break;
    case 'account':
      if (e.account.address === app.address) {
        setAccount(e.account);
        syncListedHistory();
      }
      break;
    case 'rejected':
      warn(`rejected:${e.relay}:${e.what}`,
        `A relay sent data that failed verification (${e.what})`,
        `${e.relay}: ${e.reason}. It is not shown as fact.`);
      if (/account|balance/i.test(e.what)) {
        app.accountProblem = e.reason;
        renderAccount();
      } else if (!app.account && /finality|header|head/.test(e.what)) {
        // Nothing proved yet, and the proof of finality itself was forged: say so on the badge.
        app.accountProblem = `finality could not be verified (${e.reason})`;
        renderAccount();
      }
      break;
    case 'checkpoint': {
      const n = e.sources.length;
      warn('checkpoint', 'Started again from a recent checkpoint',
        `This wallet's saved position (or the chain's genesis) is older than the chain's weak-subjectivity bound: the validators it trusted may have withdrawn their stake and could sign a false history at no cost. It started again from block ${e.anchor.height} (${shortHash(e.anchor.hash)}), on which ${n} source${n > 1 ? 's' : ''} agreed: ${e.sources.join(', ')}.${n < 2 ? ' Only one source answered, so it could not be confirmed independently: add relays (?relay=…) to check it.' : ''}`);
      break;
    }
    case 'alarm':
      raiseAlarm(`${e.detail} — ${e.evidence} piece(s) of slashing evidence sent to the relays`);
      break;
    case 'disagreement':
      warn(`disagree:${e.what}`, `Relays disagree (${e.what})`, `${e.detail} — ${e.relays.join(', ')}`);
      break;
    default:
      break;
  }
}

/// A warning: the newest of each kind (by `key`) stays in view, and every one goes into a short
/// log (the last WARNING_LOG), so an earlier, different lie of the same relay does not vanish.
function warn(key, title, detail) {
  app.warnings.set(key, { title, detail });
  app.warningLog.unshift({ time: new Date(), title, detail });
  app.warningLog.length = Math.min(app.warningLog.length, WARNING_LOG);
  const box = $('warnings');
  const current = [...app.warnings.values()].map((x) => {
    const div = document.createElement('div');
    div.className = 'warning';
    const strong = document.createElement('strong');
    strong.textContent = `⚠ ${x.title}`;
    div.append(strong, document.createTextNode(x.detail));
    return div;
  });
  const log = document.createElement('details');
  log.className = 'warning-log';
  const summary = document.createElement('summary');
  summary.textContent = `All warnings (${app.warningLog.length})`;
  const list = document.createElement('ol');
  list.replaceChildren(...app.warningLog.map((x) => {
    const li = document.createElement('li');
    li.textContent = `${x.time.toLocaleTimeString()} — ${x.title}: ${x.detail}`;
    return li;
  }));
  log.append(summary, list);
  box.replaceChildren(...current, log);
}

/// How old the verified finalized state is (`age_s`), and whether finality has stalled (core's
/// rule: more than 3 epochs without new finality).
function freshness() {
  if (!app.client) return null;
  try {
    const f = app.client.status();
    return { age_s: Number(f.age_ms) / 1000, stalled: f.stalled };
  } catch {
    return null;
  }
}

/// Finality that has not moved for epochs: say so once per stall, with its age; a payment waits
/// for it.
function checkStall() {
  // Not while the client may still be catching up after connecting.
  if (!app.openSince || Date.now() - app.openSince < 10_000) return;
  const fresh = freshness();
  if (!fresh) return;
  if (fresh.stalled && !app.stalled) {
    warn('stall', 'Finality has stalled',
      `No block has been finalized for ${duration(fresh.age_s)}: balances shown are as of then, and new payments stay unfinalized until finality resumes.`);
  }
  if (app.stalled !== fresh.stalled) {
    app.stalled = fresh.stalled;
    renderAccount();
  }
}

function renderNet() {
  const relays = [...app.relays.entries()];
  const open = relays.filter(([, r]) => r.state === 'open').length;
  const el = $('net');
  let text;
  if (open > 0) {
    text = `connected to ${open} relay${open > 1 ? 's' : ''}`;
  } else {
    const retry = relays.map(([, r]) => r.retry_ms).filter((x) => x !== undefined && x !== null);
    const state = relays.some(([, r]) => r.state === 'reconnecting') ? 'reconnecting' : 'connecting';
    text = retry.length ? `${state} in ${Math.ceil(Math.min(...retry) / 1000)} s…` : `${state}…`;
  }
  if (app.head) text += ` · head ${app.head.height}`;
  if (app.finalized) text += ` · final ${app.finalized.height}`;
  el.textContent = text;
  el.className = `net ${open > 0 ? 'ok' : 'down'}`;
  el.title = relays.map(([u, r]) => `${u}: ${r.state}${r.reason ? ` (${r.reason})` : ''}`).join('\n');
  // Each relay that is down, with its reason ("closed by the relay: wrong chain: …"), on the
  // page rather than only in the tooltip.
  const down = relays.filter(([, r]) => r.state !== 'open' && r.reason);
  const list = $('relay-problems');
  list.replaceChildren(...down.map(([u, r]) => {
    const li = document.createElement('li');
    li.textContent = `${u}: ${r.reason}`;
    return li;
  }));
  list.hidden = down.length === 0;
}

function addBlock(anchor, proposer) {
  if (app.blocks.some((b) => b.hash === anchor.hash)) return;
  app.blocks.unshift({ height: anchor.height, hash: anchor.hash, proposer });
  app.blocks.sort((a, b) => (a.height < b.height ? 1 : -1));
  app.blocks.length = Math.min(app.blocks.length, BLOCKS_LEN);
  renderBlocks();
}

function renderBlocks() {
  const list = $('blocks');
  if (!app.blocks.length) return;
  list.replaceChildren(...app.blocks.map((b) => {
    const li = document.createElement('li');
    const fin = app.finalized && b.height <= app.finalized.height;
    li.innerHTML = '<span></span><span class="mono small muted"></span><span></span>';
    li.children[0].textContent = `#${b.height}`;
    li.children[1].textContent = `by ${b.proposer.slice(0, 9)}…${b.proposer.slice(-4)}`;
    li.children[1].title = `proposer ${b.proposer}`;
    li.children[2].textContent = fin ? '✓ finalized' : '✓ verified';
    li.children[2].title = fin ? 'header verified and finalized' : 'header signed by the elected proposer, verified';
    li.children[2].className = 'ok-mark';
    li.dataset.height = String(b.height);
    return li;
  }));
}

// ---------------------------------------------------------------------------------------------
// Vault: create, import, unlock, lock
// ---------------------------------------------------------------------------------------------

function lockedScreen() {
  app.phrase = null;
  setText('unlock-address', store.getItem(ADDRESS) || '');
  $('unlock-pw').value = '';
  setText('unlock-error', '');
  show('unlock');
}

function lock() {
  app.phrase = null;
  app.action = null;
  lockedScreen();
}

function startCreate() {
  app.draft = w.generate_phrase(12);
  const words = app.draft.split(' ');
  $('phrase-words').replaceChildren(...words.map((word) => {
    const li = document.createElement('li');
    li.textContent = word;
    return li;
  }));
  show('create');
}

function startConfirm() {
  const words = app.draft.split(' ');
  // Three distinct positions, picked at random.
  const picks = new Set();
  const rnd = new Uint32Array(8);
  while (picks.size < 3) {
    crypto.getRandomValues(rnd);
    for (const r of rnd) if (picks.size < 3) picks.add(r % words.length);
  }
  const fields = [...picks].sort((a, b) => a - b).map((i) => {
    const wrap = document.createElement('div');
    wrap.innerHTML = '<label></label><input autocomplete="off" autocapitalize="none" spellcheck="false">';
    const [label, input] = wrap.children;
    label.textContent = `Word #${i + 1}`;
    label.htmlFor = input.id = `confirm-${i}`;
    input.dataset.index = String(i);
    return wrap;
  });
  $('confirm-fields').replaceChildren(...fields);
  setText('confirm-error', '');
  show('confirm');
}

function checkConfirm(ev) {
  ev.preventDefault();
  const words = app.draft.split(' ');
  let ok = true;
  for (const input of document.querySelectorAll('#confirm-fields input')) {
    const right = input.value.trim().toLowerCase() === words[Number(input.dataset.index)];
    input.setAttribute('aria-invalid', String(!right));
    ok = ok && right;
  }
  if (!ok) {
    setText('confirm-error', 'These words do not match your phrase. Check what you wrote down.');
    return;
  }
  askPassword(app.draft);
}

function askPassword(phrase) {
  app.pendingPhrase = phrase;
  $('pw1').value = '';
  $('pw2').value = '';
  setText('pw-error', '');
  show('password');
}

function checkImport() {
  const text = $('import-phrase').value.trim();
  if (!text) {
    setText('import-check', '', 'hint');
    return null;
  }
  try {
    const phrase = w.validate_phrase(text.toLowerCase());
    setText('import-check', '✓ valid recovery phrase', 'hint ok');
    $('import-phrase').setAttribute('aria-invalid', 'false');
    return phrase;
  } catch (e) {
    setText('import-check', errorMessage(e), 'hint bad');
    $('import-phrase').setAttribute('aria-invalid', 'true');
    return null;
  }
}

async function savePassword(ev) {
  ev.preventDefault();
  const p1 = $('pw1').value;
  const p2 = $('pw2').value;
  if (p1.length < 8) return setText('pw-error', 'Use at least 8 characters.');
  if (p1 !== p2) return setText('pw-error', 'The two passwords differ.');
  $('pw-submit').disabled = true;
  setText('pw-error', 'Encrypting…', 'hint');
  try {
    // The KDF runs in WebCrypto, off the main thread's script: the message paints meanwhile.
    const vault = await w.encrypt_phrase(app.pendingPhrase, p1);
    const account = w.derive_account(app.pendingPhrase, '', 0, 0);
    store.setItem(VAULT, vault);
    store.setItem(ADDRESS, account.address);
    const phrase = app.pendingPhrase;
    app.pendingPhrase = null;
    app.draft = null;
    setText('pw-error', '', 'error');
    unlocked(phrase);
  } catch (e) {
    setText('pw-error', errorMessage(e), 'error');
  } finally {
    $('pw-submit').disabled = false;
  }
}

async function unlock(ev) {
  ev.preventDefault();
  const pw = $('unlock-pw').value;
  if (!pw) return setText('unlock-error', 'Enter your password.');
  $('unlock-submit').disabled = true;
  setText('unlock-error', 'Unlocking…', 'hint');
  try {
    const phrase = await w.decrypt_phrase(store.getItem(VAULT), pw);
    $('unlock-pw').value = '';
    setText('unlock-error', '', 'error');
    unlocked(phrase);
  } catch (e) {
    const msg = errorMessage(e);
    setText('unlock-error', msg === 'wrong password' ? 'Wrong password.' : msg, 'error');
    $('unlock-pw').select();
  } finally {
    $('unlock-submit').disabled = false;
  }
}

function unlocked(phrase) {
  app.phrase = phrase;
  app.lastActivity = Date.now();
  const account = w.derive_account(phrase, '', 0, 0);
  if (app.address !== account.address) {
    app.address = account.address;
    app.account = null;
    app.accountProblem = null;
    app.history = loadHistory();
    app.client.watch(app.address);
    $('qr').innerHTML = renderSVG(app.address.toUpperCase(), { ecc: 'M', border: 2 });
  }
  setText('address', app.address);
  renderAccount();
  renderHistory();
  show('home');
  refreshAccount();
  refreshHistory();
  syncListedHistory();
}

function forget() {
  // eslint-disable-next-line no-alert
  if (!window.confirm('Remove the encrypted wallet from this browser? Without your recovery phrase the coins are lost.')) return;
  store.removeItem(VAULT);
  store.removeItem(ADDRESS);
  app.address = null;
  show('welcome');
}

// ---------------------------------------------------------------------------------------------
// Account
// ---------------------------------------------------------------------------------------------

async function refreshAccount() {
  if (!app.address || !app.client) return;
  const address = app.address;
  try {
    const acc = await app.client.account(address);
    if (address === app.address) setAccount(acc);
  } catch (e) {
    // A proof that failed verification arrives as a `rejected` event, which hides the number.
    // Anything else (no relay yet, nothing finalized yet, a relay behind) is still "verifying".
    if (address !== app.address) return;
    app.accountWaiting = errorMessage(e);
    renderAccount();
  }
}

/// A verified account: a finalized read replaces an older finalized one; a read in a block above
/// finality (proven by its proposer's signature only) is kept apart, shown as not final yet, and
/// only while it is above the finalized one.
function setAccount(acc) {
  if (acc.finalized) {
    if (app.account && acc.at.height < app.account.at.height) return; // older than what we show
    app.account = acc;
    if (app.headAccount && app.headAccount.at.height <= acc.at.height) app.headAccount = null;
  } else {
    if (app.account && acc.at.height <= app.account.at.height) return;
    app.headAccount = acc;
  }
  app.accountProblem = null;
  renderAccount();
}

/// Conflicting finality: stop. Sending and staking are blocked, the checkpoint is no longer
/// saved, and the alarm survives a reload (per chain) until the user clears storage.
function raiseAlarm(detail) {
  app.alarm = detail;
  try {
    store.setItem(alarmKey(), detail);
    store.removeItem(app.checkpointKey);
  } catch {
    // Storage unavailable: the alarm holds for this session.
  }
  warn('alarm', 'Conflicting finality: this wallet has stopped', detail);
  $('go-send').disabled = true;
  $('go-stake').disabled = true;
  renderAccount();
}

function alarmKey() {
  return `memecoin.alarm.${app.chainId}`;
}

function renderAccount() {
  renderFinalAccount();
  renderHeadState();
}

/// The account in a verified block above finality, labelled as such: never the main number.
function renderHeadState() {
  const el = $('head-state');
  const head = app.headAccount;
  const above = head && (!app.account || head.at.height > app.account.at.height);
  if (!above || app.alarm || app.accountProblem) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.hidden = false;
  el.textContent = `In block ${head.at.height}, not final yet: balance ${fmt(head.balance)}, staked ${fmt(head.stake)}`;
  el.title = 'signed by the block\'s proposer, not yet by a supermajority of the stake';
}

function renderFinalAccount() {
  const acc = app.account;
  const badge = $('badge');
  const bal = $('balance');
  const stake = $('stake');
  if (app.accountProblem) {
    bal.textContent = '—';
    stake.textContent = '—';
    bal.classList.add('hidden-number');
    stake.classList.add('hidden-number');
    badge.className = 'badge unverified';
    badge.textContent = `not verified: ${app.accountProblem}`;
    $('unbonding').replaceChildren();
    return;
  }
  if (!acc) {
    bal.textContent = '—';
    stake.textContent = '—';
    badge.className = 'badge verifying';
    badge.textContent = app.alarm ? 'stopped: conflicting finality'
      : app.stalled ? 'nothing finalized to show: finality has stalled' : 'verifying…';
    badge.title = app.accountWaiting || '';
    return;
  }
  badge.title = '';
  bal.classList.remove('hidden-number');
  stake.classList.remove('hidden-number');
  bal.textContent = fmt(acc.balance);
  stake.textContent = fmt(acc.stake);
  badge.className = 'badge verified';
  badge.textContent = `verified, finalized at height ${acc.at.height}`;
  const fresh = freshness();
  badge.title = fresh ? `finalized ${duration(fresh.age_s)} ago` : '';
  if (fresh && app.stalled) {
    badge.className = 'badge verifying';
    badge.textContent = `verified, finalized at height ${acc.at.height} — ${duration(fresh.age_s)} ago: finality has stalled`;
  }
  if (app.alarm) {
    badge.className = 'badge unverified';
    badge.textContent = `stopped: conflicting finality (last finalized height ${acc.at.height})`;
  }
  $('unbonding').replaceChildren(...acc.unbonding.map((u) => {
    const li = document.createElement('li');
    li.textContent = `${fmt(u.amount)} unbonding, paid back from epoch ${u.release_epoch}`;
    return li;
  }));
}

// ---------------------------------------------------------------------------------------------
// History (this device's record of the account's transactions, each status verified by proof)
// ---------------------------------------------------------------------------------------------

function historyKey() {
  return `memecoin.history.${app.chainId}.${app.address}`;
}

function loadHistory() {
  try {
    const raw = JSON.parse(store.getItem(historyKey()) || '[]');
    return raw.map((h) => ({ ...h, amount: BigInt(h.amount), fee: BigInt(h.fee),
      nonce: h.nonce === null ? null : BigInt(h.nonce), height: h.height === null ? null : BigInt(h.height) }));
  } catch {
    return [];
  }
}

/// Only what this device sent, or what a proof covers, is kept: an entry of the relay's listing
/// is stored once its inclusion is proven, never before.
function saveHistory() {
  const kept = app.history.filter((h) => h.status !== 'listed');
  const raw = kept.slice(0, HISTORY_LEN).map((h) => ({ ...h, amount: String(h.amount), fee: String(h.fee),
    nonce: h.nonce === null ? null : String(h.nonce), height: h.height === null ? null : String(h.height) }));
  store.setItem(historyKey(), JSON.stringify(raw));
}

function record(entry) {
  app.history.unshift({ status: 'pending', verified: false, height: null, time: Date.now(), ...entry });
  saveHistory();
  renderHistory();
}

const KIND = { transfer: 'Sent', received: 'Received', faucet: 'Test coins', stake: 'Staked', unstake: 'Unstaked', evidence: 'Evidence' };

function statusText(h) {
  switch (h.status) {
    case 'finalized': return `✓ finalized in block ${h.height}`;
    case 'included': return `✓ included in block ${h.height}`;
    case 'dropped': return 'dropped by the relays';
    case 'listed': return 'checking its proof…';
    default: return 'pending (not yet in a block)';
  }
}

function renderHistory() {
  const list = $('history');
  if (!app.history.length) {
    list.innerHTML = '<li class="hint">No transactions yet.</li>';
    return;
  }
  // Not yet in a block first (newest first), then by block height, newest first.
  const rank = (h) => (h.height === null ? [1, h.time] : [0, Number(h.height)]);
  const sorted = [...app.history].sort((x, y) => {
    const [a, b] = [rank(x), rank(y)];
    return b[0] - a[0] || b[1] - a[1];
  });
  const known = knownAddresses();
  const dust = sorted.filter((h) => isDust(h, known));
  const shown = app.hideDust ? sorted.filter((h) => !dust.includes(h)) : sorted;
  const items = shown.map((h) => {
    const li = document.createElement('li');
    li.dataset.tx = h.id;
    li.dataset.status = h.status;
    li.innerHTML = '<span></span><span class="mono"></span><span></span>';
    const sign = h.kind === 'faucet' || h.kind === 'received' ? '+' : h.kind === 'transfer' ? '−' : '';
    const other = h.kind === 'faucet' ? null : h.to || h.from;
    const peer = other ? ` ${h.to ? 'to' : 'from'} ${groupAddress(other)}` : '';
    const fresh = other && h.kind === 'received' && !known.has(other) ? ' (new sender)' : '';
    li.children[0].textContent = `${KIND[h.kind] || h.kind}${peer}${fresh}`;
    if (fresh) li.children[0].classList.add('new-peer');
    li.children[1].textContent = `${sign}${fmt(h.amount)}`;
    li.children[2].textContent = statusText(h);
    li.children[2].className = h.verified ? 'ok-mark' : 'muted';
    li.title = `transaction ${h.id}`;
    return li;
  });
  if (dust.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    const button = document.createElement('button');
    button.type = 'button';
    button.id = 'toggle-dust';
    button.textContent = app.hideDust
      ? `Show ${dust.length} small payment${dust.length > 1 ? 's' : ''} from new senders`
      : 'Hide small payments from new senders';
    button.addEventListener('click', () => { app.hideDust = !app.hideDust; renderHistory(); });
    li.append(button);
    items.push(li);
  }
  list.replaceChildren(...items);
}

/// An address whole, in groups of four after `meme1`, so that it can be read and compared
/// (a poisoner's look-alike matches the first and last few characters only).
function groupAddress(address) {
  const body = address.slice(5).match(/.{1,4}/g) || [];
  return `meme1 ${body.join(' ')}`;
}

/// Addresses this wallet has sent to: the ones a user means to pay again, and the ones a
/// look-alike (address poisoning) imitates.
function knownAddresses() {
  const known = new Set();
  for (const h of app.history) if (h.kind === 'transfer' && h.to) known.add(h.to);
  return known;
}

/// A payment too small to matter from a sender this wallet never paid: how poisoners plant a
/// look-alike address in the activity list. Under 1,000 times the minimum fee.
function isDust(h, known) {
  return h.kind === 'received' && h.from && !known.has(h.from)
    && app.params && h.amount < app.params.min_fee * 1000n;
}

/// Merges the relay's listing of this account's transactions (`/api/accounts/{a}/txs`) into
/// the history. The listing is the relay's word and may leave things out; what it names is
/// checked here: each transaction's id is computed from its bytes (so its amount and parties
/// are what the bytes say), and its status is shown only once an inclusion proof verifies.
async function syncListedHistory() {
  const address = app.address;
  if (!address || BUNDLE) return; // the listing is the serving relay's HTTP API
  let body;
  try {
    const res = await fetch(`api/accounts/${address}/txs`);
    if (!res.ok) return;
    body = await res.json();
  } catch {
    return;
  }
  if (address !== app.address || !Array.isArray(body.txs)) return;
  let added = false;
  for (const item of body.txs) {
    if (app.history.some((h) => h.id === item.tx_id)) continue;
    let t;
    try {
      t = w.describe_tx(String(item.tx));
    } catch {
      continue;
    }
    const mine = t.sender === address;
    if (t.id !== item.tx_id || (!mine && t.to !== address)) continue;
    app.history.push({
      id: t.id, kind: mine ? t.kind : 'received', to: mine ? t.to : null, from: mine ? null : t.sender,
      amount: t.amount, fee: t.fee, nonce: mine ? t.nonce : null,
      status: 'listed', verified: false, height: null, time: Date.now(),
    });
    added = true;
  }
  if (added) {
    saveHistory();
    renderHistory();
    refreshHistory();
  }
}

let refreshing = false;
async function refreshHistory() {
  if (refreshing || !app.client) return;
  refreshing = true;
  try {
    // The relay's listing is its word: what no proof covers in time is forgotten.
    const before = app.history.length;
    app.history = app.history.filter((h) => h.status !== 'listed' || Date.now() - h.time < LISTED_TTL_MS);
    if (app.history.length !== before) renderHistory();
    for (const h of app.history) {
      if (h.status === 'finalized' || h.status === 'dropped') continue;
      let st;
      try {
        st = await app.client.tx_status(h.id);
      } catch {
        continue;
      }
      // Only proved states count: "included"/"finalized" arrive with verified = true.
      if ((st.status === 'included' || st.status === 'finalized') && !st.verified) continue;
      if (h.status === 'listed' && st.status !== 'included' && st.status !== 'finalized') continue;
      // Some relays do not have it and none has included it (one may have swallowed it, or
      // dropped it): send it again, at most every 30 s. "Dropped" only when no relay has it.
      if ((st.status === 'pending' || st.status === 'unknown') && st.unknown_at.length && h.tx
        && !(h.resent > Date.now() - 30_000)) {
        h.resent = Date.now();
        app.client.submit(h.tx).catch(() => {});
      }
      if (st.status === 'unknown') {
        if (Date.now() - h.time > 10 * 60 * 1000) h.status = 'dropped';
      } else {
        h.status = st.status;
        h.verified = st.verified;
        h.height = st.height === undefined ? null : st.height;
      }
      if (h.id === app.tracking) renderStatus(h);
      if (h.kind === 'faucet' && h.status === 'finalized') setText('faucet-status', '', 'hint');
    }
    saveHistory();
    renderHistory();
  } finally {
    refreshing = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Amounts, nonce, what is available
// ---------------------------------------------------------------------------------------------

/// Coins spent by this device's transactions that the finalized state does not show yet.
function pendingSpend() {
  if (!app.account) return 0n;
  let sum = 0n;
  for (const h of app.history) {
    if (h.nonce === null || h.nonce < app.account.nonce || h.status === 'dropped') continue;
    sum += h.fee + (h.kind === 'unstake' ? 0n : h.amount);
  }
  return sum;
}

/// Whether core's rules let this account pay for it (`check_spend`: amount and fee from what
/// is available, an unstake from the bonded stake).
function affordable(kind, amount, fee, avail) {
  try {
    w.check_spend(kind, amount, fee, avail, app.account.stake);
    return true;
  } catch {
    return false;
  }
}

function available() {
  if (!app.account) return null;
  const a = app.account.balance - pendingSpend();
  return a > 0n ? a : 0n;
}

function nextNonce() {
  let n = app.account.nonce;
  for (const h of app.history) {
    if (h.nonce !== null && h.nonce >= n && h.status !== 'dropped') n = h.nonce + 1n;
  }
  return n;
}

/// Parses an amount field: a BigInt, or sets the field's message and returns null.
function amountField(inputId, checkId, { allowZero = false } = {}) {
  const input = $(inputId);
  const text = input.value.trim();
  let units = null;
  let msg = '';
  if (!text) {
    msg = 'Enter an amount.';
  } else {
    try {
      units = w.parse_amount(text);
      if (units === 0n && !allowZero) {
        units = null;
        msg = 'The amount must be more than 0.';
      }
    } catch (e) {
      msg = errorMessage(e);
    }
  }
  input.setAttribute('aria-invalid', String(units === null));
  if (checkId) setText(checkId, msg, msg ? 'hint bad' : 'hint');
  return units;
}

function checkRecipient() {
  const text = $('to').value.trim();
  if (!text) {
    setText('to-check', '', 'hint');
    return null;
  }
  try {
    w.parse_address(text);
    const address = text.toLowerCase();
    const lookalike = [...knownAddresses()].some((k) => k !== address
      && k.slice(0, 9) === address.slice(0, 9) && k.slice(-4) === address.slice(-4));
    if (lookalike) {
      setText('to-check', `⚠ This address looks like one you paid before but is not the same: ${groupAddress(address)}. Compare every group.`, 'hint bad');
    } else if (!knownAddresses().has(address)) {
      setText('to-check', `✓ valid address (checksum correct) — you have not paid it before: ${groupAddress(address)}`, 'hint ok');
    } else {
      setText('to-check', '✓ valid address (checksum correct), paid before', 'hint ok');
    }
    $('to').setAttribute('aria-invalid', 'false');
    return text.toLowerCase();
  } catch (e) {
    setText('to-check', `Not a valid address: ${errorMessage(e)}`, 'hint bad');
    $('to').setAttribute('aria-invalid', 'true');
    return null;
  }
}

function minFeeText() {
  return w.format_amount(app.params.min_fee);
}

// ---------------------------------------------------------------------------------------------
// Send, stake, review, status
// ---------------------------------------------------------------------------------------------

function openSend() {
  $('send-form').reset();
  for (const id of ['to-check', 'amount-check', 'send-error']) setText(id, '');
  $('fee').value = minFeeText();
  setText('fee-check', `Minimum fee: ${fmt(app.params.min_fee)}`, 'hint');
  show('send');
}

function sendMax() {
  const fee = amountField('fee', 'fee-check', { allowZero: true });
  const avail = available();
  if (fee === null || avail === null) return;
  const max = avail - fee;
  $('amount').value = w.format_amount(max > 0n ? max : 0n);
  amountField('amount', 'amount-check');
}

function reviewSend(ev) {
  ev.preventDefault();
  setText('send-error', '');
  const to = checkRecipient();
  if (to === null) {
    setText('to-check', $('to').value.trim() ? $('to-check').textContent : 'Enter the recipient\'s address.', 'hint bad');
  }
  const amount = amountField('amount', 'amount-check');
  const fee = amountField('fee', 'fee-check', { allowZero: true });
  if (to === null || amount === null || fee === null) return;
  if (fee < app.params.min_fee) return setText('fee-check', `The fee must be at least ${fmt(app.params.min_fee)}.`, 'hint bad');
  if (!app.account || app.accountProblem) return setText('send-error', 'Your balance is not verified yet: wait for the badge to say "verified".');
  const avail = available();
  if (!affordable('transfer', amount, fee, avail)) {
    return setText('send-error', `Insufficient funds: ${fmt(amount + fee)} needed (amount + fee), ${fmt(avail)} available.`);
  }
  review({ kind: 'transfer', to, amount, fee });
}

function openStake() {
  $('stake-form').reset();
  for (const id of ['stake-check', 'stake-error']) setText(id, '');
  $('stake-fee').value = minFeeText();
  const p = app.params;
  const slotS = Number(p.slot_ms) / 1000;
  const epochS = slotS * Number(p.slots_per_epoch);
  setText('unbonding-delay', `${p.unbonding_epochs} epochs (about ${duration(Number(p.unbonding_epochs) * epochS)}; an epoch is ${p.slots_per_epoch} slots of ${slotS} s)`);
  show('stake');
}

/// A rough duration for reading: "40 s", "12 min", "5 h", "3 days".
function duration(seconds) {
  if (seconds < 120) return `${Math.ceil(seconds)} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function stakeKind() {
  return document.querySelector('input[name="stake-kind"]:checked').value;
}

function stakeMax() {
  const fee = amountField('stake-fee', null, { allowZero: true });
  if (fee === null || !app.account) return;
  let max;
  if (stakeKind() === 'stake') {
    max = available() - fee;
  } else {
    max = app.account.stake;
  }
  $('stake-amount').value = w.format_amount(max > 0n ? max : 0n);
  amountField('stake-amount', 'stake-check');
}

function reviewStake(ev) {
  ev.preventDefault();
  setText('stake-error', '');
  const kind = stakeKind();
  const amount = amountField('stake-amount', 'stake-check');
  const fee = amountField('stake-fee', null, { allowZero: true });
  if (amount === null) return;
  if (fee === null) return setText('stake-error', 'The fee is not a valid amount.');
  if (fee < app.params.min_fee) return setText('stake-error', `The fee must be at least ${fmt(app.params.min_fee)}.`);
  if (!app.account || app.accountProblem) return setText('stake-error', 'Your balance is not verified yet.');
  const avail = available();
  if (kind === 'stake') {
    if (!affordable('stake', amount, fee, avail)) return setText('stake-error', `Insufficient funds: ${fmt(amount + fee)} needed, ${fmt(avail)} available.`);
    if (app.account.stake + amount < app.params.min_stake && app.account.stake === 0n) {
      return setText('stake-error', `A first stake must be at least ${fmt(app.params.min_stake)}.`);
    }
  } else {
    if (!affordable('unstake', amount, fee, avail)) {
      return setText('stake-error', amount > app.account.stake
        ? `You have ${fmt(app.account.stake)} staked.`
        : `Insufficient funds for the fee: ${fmt(avail)} available.`);
    }
  }
  review({ kind, amount, fee });
}

function review(action) {
  app.action = action;
  const rows = [];
  if (action.kind === 'transfer') {
    rows.push(['Send', fmt(action.amount)], ['To', action.to]);
  } else if (action.kind === 'stake') {
    rows.push(['Stake', fmt(action.amount)]);
  } else {
    const p = app.params;
    rows.push(['Unstake', fmt(action.amount)], ['Paid back', `after ${p.unbonding_epochs} epochs`]);
  }
  rows.push(['Fee', fmt(action.fee)]);
  if (action.kind !== 'unstake') rows.push(['Total', fmt(action.amount + action.fee)]);
  rows.push(['From', app.address], ['Network', app.chainName]);
  $('review').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
  setText('review-error', '');
  show('review');
}

async function confirmAction() {
  const a = app.action;
  if (!a || !app.phrase) return;
  $('confirm').disabled = true;
  if (app.alarm) {
    setText('review-error', 'This wallet has stopped after conflicting finality: nothing is signed.', 'error');
    return;
  }
  setText('review-error', 'Signing and sending…', 'hint');
  try {
    const nonce = nextNonce();
    let signed;
    if (a.kind === 'transfer') {
      signed = w.sign_transfer(app.phrase, '', 0, 0, app.chainId, nonce, a.fee, a.to, a.amount);
    } else if (a.kind === 'stake') {
      const commitment = app.account.stake === 0n ? w.stake_commitment(app.phrase, '', 0, 0) : '0'.repeat(64);
      signed = w.sign_stake(app.phrase, '', 0, 0, app.chainId, nonce, a.fee, a.amount, commitment);
    } else {
      signed = w.sign_unstake(app.phrase, '', 0, 0, app.chainId, nonce, a.fee, a.amount);
    }
    const result = await app.client.submit(signed.tx);
    if (!result.accepted) {
      setText('review-error', `The relay refused the transaction: ${result.reason}`, 'error');
      return;
    }
    // The signed transaction is kept (it is public once sent) to send again to relays that do
    // not have it while none has included it.
    record({ id: signed.id, kind: a.kind, to: a.to || null, amount: a.amount, fee: a.fee, nonce, tx: signed.tx });
    app.action = null;
    trackStatus(signed.id);
  } catch (e) {
    setText('review-error', `Could not send: ${errorMessage(e)}`, 'error');
  } finally {
    $('confirm').disabled = false;
  }
}

function trackStatus(id) {
  app.tracking = id;
  const h = app.history.find((x) => x.id === id);
  setText('status-summary', `${KIND[h.kind]} ${fmt(h.amount)}${h.to ? ` to ${h.to}` : ''} (fee ${fmt(h.fee)})`);
  setText('status-detail', `transaction ${id}`);
  renderStatus(h);
  show('status');
}

function renderStatus(h) {
  const order = ['pending', 'included', 'finalized'];
  const at = order.indexOf(h.status);
  for (const li of document.querySelectorAll('#steps li')) {
    const i = order.indexOf(li.dataset.step);
    li.className = i < at || (i === at && h.status === 'finalized') ? 'done' : i === at ? 'current' : '';
    const note = li.querySelector('span');
    if (li.dataset.step === 'included' && i <= at && h.height !== null) note.textContent = `(block ${h.height}, verified by proof)`;
    else if (li.dataset.step === 'finalized' && i === at) note.textContent = `(block ${h.height}, verified by proof)`;
    else note.textContent = '';
  }
  $('steps').dataset.status = h.status;
  if (h.status === 'dropped') setText('status-summary', 'The relays dropped this transaction. It was not sent; you can try again.');
  else if (h.status !== 'finalized' && app.stalled) setText('status-summary', 'Finality has stalled: this transaction is final only once the validators finalize blocks again.');
}

// ---------------------------------------------------------------------------------------------
// Faucet, copy, QR
// ---------------------------------------------------------------------------------------------

async function askFaucet() {
  $('faucet').disabled = true;
  setText('faucet-status', 'Asking the devnet faucet…', 'hint');
  try {
    const res = await fetch('api/faucet', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: app.address }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    // The reply is the relay's word: the amount shown is the one in the transaction's bytes,
    // whose id the inclusion proof covers, not the reply's `amount`.
    let t;
    try {
      t = w.describe_tx(String(body.tx));
    } catch {
      throw new Error('the reply carries no readable transaction');
    }
    if (t.id !== body.tx_id || t.to !== app.address || t.kind !== 'transfer') {
      throw new Error('the reply\'s transaction is not a payment to this address');
    }
    const amount = t.amount;
    record({ id: t.id, kind: 'faucet', to: null, from: t.sender, amount, fee: 0n, nonce: null });
    setText('faucet-status', `${fmt(amount)} on the way; the balance updates once the transfer is finalized.`, 'hint ok');
  } catch (e) {
    setText('faucet-status', `The faucet refused: ${errorMessage(e)}`, 'hint bad');
  } finally {
    $('faucet').disabled = false;
  }
}

async function copyAddress() {
  try {
    await navigator.clipboard.writeText(app.address);
    setText('copy-status', 'Address copied.', 'hint ok');
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('address'));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    setText('copy-status', 'Press Ctrl+C (⌘C) to copy the selected address.', 'hint');
  }
}

function toggleQr() {
  const qr = $('qr');
  qr.hidden = !qr.hidden;
  $('show-qr').setAttribute('aria-expanded', String(!qr.hidden));
}

// ---------------------------------------------------------------------------------------------
// Timers, wiring
// ---------------------------------------------------------------------------------------------

let ticks = 0;
function tick() {
  ticks += 1;
  renderNet();
  checkStall();
  const limit = Number($('autolock').value) * 60 * 1000;
  if (app.phrase && Date.now() - app.lastActivity > limit) lock();
  const open = app.history.some((h) => ['pending', 'included', 'listed'].includes(h.status));
  if (app.address && open) refreshHistory();
  if (app.address && (!app.account || app.accountProblem) && ticks % 3 === 0) refreshAccount();
}

function wire() {
  for (const ev of ['pointerdown', 'keydown', 'input']) {
    document.addEventListener(ev, () => { app.lastActivity = Date.now(); }, { passive: true });
  }
  $('autolock').addEventListener('change', () => store.setItem(AUTOLOCK, $('autolock').value));
  $('go-create').addEventListener('click', startCreate);
  $('go-import').addEventListener('click', () => {
    $('import-phrase').value = '';
    setText('import-check', '', 'hint');
    show('import');
  });
  $('create-written').addEventListener('click', startConfirm);
  $('confirm-back').addEventListener('click', () => show('create'));
  $('confirm-form').addEventListener('submit', checkConfirm);
  $('import-phrase').addEventListener('input', checkImport);
  $('import-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const phrase = checkImport();
    if (phrase) askPassword(phrase);
    else if (!$('import-phrase').value.trim()) setText('import-check', 'Enter your recovery phrase.', 'hint bad');
  });
  $('password-form').addEventListener('submit', savePassword);
  $('unlock-form').addEventListener('submit', unlock);
  $('forget').addEventListener('click', forget);
  $('lock').addEventListener('click', lock);
  for (const b of document.querySelectorAll('button.back')) {
    b.addEventListener('click', () => {
      app.draft = null;
      app.pendingPhrase = null;
      show(app.phrase ? 'home' : store.getItem(VAULT) ? 'unlock' : 'welcome');
    });
  }
  $('go-send').addEventListener('click', openSend);
  $('go-stake').addEventListener('click', openStake);
  $('to').addEventListener('input', checkRecipient);
  $('amount').addEventListener('input', () => amountField('amount', 'amount-check'));
  $('fee').addEventListener('input', () => amountField('fee', 'fee-check', { allowZero: true }));
  $('max').addEventListener('click', sendMax);
  $('send-form').addEventListener('submit', reviewSend);
  $('stake-amount').addEventListener('input', () => amountField('stake-amount', 'stake-check'));
  $('stake-max').addEventListener('click', stakeMax);
  $('stake-form').addEventListener('submit', reviewStake);
  $('confirm').addEventListener('click', confirmAction);
  $('review-edit').addEventListener('click', () => show(app.action && app.action.kind === 'transfer' ? 'send' : 'stake'));
  $('status-done').addEventListener('click', () => {
    app.tracking = null;
    show('home');
  });
  $('faucet').addEventListener('click', askFaucet);
  $('copy').addEventListener('click', copyAddress);
  $('show-qr').addEventListener('click', toggleQr);
}

start();
