// memecoin's wallet page: start-up and wiring. Plain ES modules (js/), no bundler, over the wasm
// package (./pkg, built by `cargo xtask page`): keys, the vault, signing and the verifying relay
// client are all in wasm; the modules are screens and glue. Amounts are BigInt base units
// everywhere and are converted to and from text only by the wasm `parse_amount`/`format_amount`
// (exact, no floating point). Nothing secret leaves the page: the phrase is used only for
// local signing, and stored only encrypted (the wasm vault) in localStorage.
//
// js/state.js      the state and storage keys         js/ui.js       screens, shared parts
// js/events.js     the client's events                 js/account.js  the verified account
// js/history.js    activity and a transaction's status js/review.js   review, sign, submit
// js/send.js       the send screen                     js/stake.js    the stake screen
// js/vault.js      create, import, unlock, lock     js/client.js   connect, the sealed checkpoint
// js/wallets.js    accounts, contacts, receive QR       js/accounts.js their lists (pure)
// Pure, tested in Node (tests/js/wallet/): js/accounts.js, js/format.js, js/records.js, js/verified.js,
// js/warnings.js, js/relays.js, js/checkpoint.js (WebCrypto only).

import init, * as w from './pkg/memecoin_wasm.js';
import { checkStall, refreshAccount } from './js/account.js';
import { connect } from './js/client.js';
import { errorMessage } from './js/format.js';
import { record, refreshHistory } from './js/history.js';
import { amountField, confirmAction, feeField, replacePending } from './js/review.js';
import { addressCheck, checkRecipient, openSend, pickRecipient, reviewSend, sendMax } from './js/send.js';
import { openStake, reviewStake, stakeMax } from './js/stake.js';
import { AUTOLOCK, BUNDLE, VAULT, app, store } from './js/state.js';
import { $, fmt, renderNet, setText, show } from './js/ui.js';
import {
  askPassword, checkConfirm, checkImport, copyPhrase, forget, lock, lockedScreen, revealPhrase,
  savePassword, showFirstAddress, showPassphrase, startConfirm, startCreate, unlock,
} from './js/vault.js';
import {
  addAccount, closeContacts, openContacts, openWatch, removeAccount, renderRequest, saveContact,
  saveRename, saveWatch, selectAccount, startRename,
} from './js/wallets.js';

async function start() {
  try {
    // Compiled once here: the client's worker instantiates the same module (js/remote.js)
    // instead of fetching and compiling the .wasm again.
    const wasm = BUNDLE ? fetch(BUNDLE.wasm[0], { integrity: BUNDLE.wasm[1] })
      : fetch(new URL('./pkg/memecoin_wasm_bg.wasm', import.meta.url));
    // compileStreaming needs `application/wasm`; a host that sends another type still works.
    app.wasmModule = await WebAssembly.compileStreaming(wasm).catch(async (e) => {
      if (!(e instanceof TypeError)) throw e;
      const res = await (BUNDLE ? fetch(BUNDLE.wasm[0], { integrity: BUNDLE.wasm[1] })
        : fetch(new URL('./pkg/memecoin_wasm_bg.wasm', import.meta.url)));
      if (!res.ok) throw new Error(`the wallet's code (.wasm): HTTP ${res.status}`);
      return WebAssembly.compile(await res.arrayBuffer());
    });
    await init({ module_or_path: app.wasmModule });
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
  setInterval(tick, 1000);
  if (store.getItem(VAULT)) {
    // The saved position is trusted only under the vault's seal: connect once unlocked.
    setText('net', 'not connected yet: the wallet connects once unlocked');
    lockedScreen();
  } else {
    try {
      await connect(null);
    } catch (e) {
      setText('loading-error', `The wallet could not start: ${errorMessage(e)}`);
      return;
    }
    show('welcome');
  }
  detectFaucet();
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

async function askFaucet() {
  $('faucet').disabled = true;
  clearTimeout(app.faucetCountdown);
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
    record({ id: t.id, kind: 'faucet', to: null, from: t.sender, amount: t.amount, fee: 0n, nonce: null });
    setText('faucet-status', `${fmt(t.amount)} on the way; the balance updates once the transfer is finalized.`, 'hint ok');
  } catch (e) {
    faucetRefused(errorMessage(e));
  } finally {
    $('faucet').disabled = false;
  }
}

/// A refusal that says when to try again counts down to it, live, and goes away at zero (it was
/// left frozen at "try again in 57 s").
function faucetRefused(reason) {
  clearTimeout(app.faucetCountdown);
  const m = reason.match(/^(.*try again in )(\d+)( s)$/);
  if (!m) {
    setText('faucet-status', `The faucet refused: ${reason}`, 'hint bad');
    return;
  }
  const until = Date.now() + Number(m[2]) * 1000;
  const render = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      setText('faucet-status', '', 'hint');
      return;
    }
    setText('faucet-status', `The faucet refused: ${m[1]}${left}${m[3]}`, 'hint bad');
    app.faucetCountdown = setTimeout(render, 1000);
  };
  render();
}

async function copyAddress() {
  clearTimeout(app.copyTimer);
  try {
    await navigator.clipboard.writeText(app.address);
    setText('copy-status', 'Address copied.', 'hint ok');
    // An answer to the click, not news: gone after a few seconds.
    app.copyTimer = setTimeout(() => setText('copy-status', '', 'hint'), 4000);
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
  const qr = $('receive');
  qr.hidden = !qr.hidden;
  $('show-qr').setAttribute('aria-expanded', String(!qr.hidden));
  renderRequest();
}

let ticks = 0;
function tick() {
  ticks += 1;
  if (app.client) renderNet();
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
  $('reveal-phrase').addEventListener('click', revealPhrase);
  $('copy-phrase').addEventListener('click', copyPhrase);
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
  $('to').addEventListener('input', () => checkRecipient(true));
  $('amount').addEventListener('input', () => amountField('amount', 'amount-check'));
  $('fee').addEventListener('input', () => feeField('fee', 'fee-check'));
  $('max').addEventListener('click', sendMax);
  $('send-form').addEventListener('submit', reviewSend);
  $('stake-amount').addEventListener('input', () => amountField('stake-amount', 'stake-check'));
  $('stake-max').addEventListener('click', stakeMax);
  $('stake-form').addEventListener('submit', reviewStake);
  $('confirm').addEventListener('click', confirmAction);
  $('review-edit').addEventListener('click', () => show(app.action && app.action.kind === 'transfer' ? 'send' : 'stake'));
  $('speed-up').addEventListener('click', () => replacePending('speed-up'));
  $('cancel-tx').addEventListener('click', () => replacePending('cancel'));
  $('status-done').addEventListener('click', () => {
    app.tracking = null;
    show('home');
  });
  $('faucet').addEventListener('click', askFaucet);
  $('copy').addEventListener('click', copyAddress);
  $('show-qr').addEventListener('click', toggleQr);
  $('passphrase').addEventListener('input', showFirstAddress);
  $('passphrase-show').addEventListener('change', showPassphrase);
  $('account-select').addEventListener('change', () => selectAccount(Number($('account-select').value)));
  $('add-account').addEventListener('click', addAccount);
  $('rename-account').addEventListener('click', startRename);
  $('remove-account').addEventListener('click', removeAccount);
  $('rename-form').addEventListener('submit', saveRename);
  $('go-watch').addEventListener('click', openWatch);
  $('watch-address').addEventListener('input', () => addressCheck('watch-address', 'watch-check', true));
  $('watch-form').addEventListener('submit', saveWatch);
  $('go-contacts').addEventListener('click', () => openContacts());
  $('contact-address').addEventListener('input', () => addressCheck('contact-address', 'contact-check', true));
  $('contact-form').addEventListener('submit', saveContact);
  $('contacts-done').addEventListener('click', closeContacts);
  $('to-contact').addEventListener('change', pickRecipient);
  $('to-save').addEventListener('click', () => openContacts(checkRecipient() || '', 'send'));
  $('history').addEventListener('click', (ev) => {
    const b = ev.target.closest('button.save-contact');
    if (b) openContacts(b.dataset.address, 'home');
  });
  for (const id of ['request-amount', 'request-memo']) $(id).addEventListener('input', renderRequest);
}

start();
