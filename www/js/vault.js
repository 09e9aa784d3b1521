// The vault's screens: create (write down, confirm), import, choose a password, unlock, lock,
// forget. The phrase is encrypted and decrypted by the wasm vault; it stays in memory only
// while unlocked.

import * as w from '../pkg/memecoin_wasm.js';
import { errorMessage } from './format.js';
import { connect } from './client.js';
import { ACCOUNTS, ADDRESS, CONTACTS, VAULT, app, store } from './state.js';
import { $, setAddress, setText, show } from './ui.js';
import { loadWallets, selectAccount } from './wallets.js';

export function lockedScreen() {
  app.phrase = null;
  app.passphrase = null;
  setAddress($('unlock-address'), store.getItem(ADDRESS) || '');
  $('unlock-pw').value = '';
  setText('unlock-error', '');
  show('unlock');
}

export function lock() {
  app.phrase = null;
  app.passphrase = null;
  app.action = null;
  lockedScreen();
}

export function startCreate() {
  app.draft = w.generate_phrase(12);
  const words = app.draft.split(' ');
  $('phrase-words').replaceChildren(...words.map((word) => {
    const li = document.createElement('li');
    li.textContent = word;
    return li;
  }));
  concealPhrase(true);
  show('create');
}

/// The new phrase starts hidden: it is shown when the user asks (nobody looking over their
/// shoulder), and only then can it be copied or confirmed as written down.
function concealPhrase(hidden) {
  const list = $('phrase-words');
  list.classList.toggle('concealed', hidden);
  list.setAttribute('aria-hidden', String(hidden));
  $('reveal-phrase').hidden = !hidden;
  $('copy-phrase').hidden = hidden;
  $('create-written').disabled = hidden;
}

export function revealPhrase() {
  concealPhrase(false);
  $('create-written').focus();
}

export async function copyPhrase() {
  try {
    await navigator.clipboard.writeText(app.draft);
    setText('phrase-status', 'Copied. Paste it only somewhere offline, then copy something else over it.', 'hint ok');
  } catch {
    setText('phrase-status', 'The browser did not allow copying: write the words down.', 'hint bad');
  }
}

export function startConfirm() {
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

export function checkConfirm(ev) {
  ev.preventDefault();
  const words = app.draft.split(' ');
  const inputs = [...document.querySelectorAll('#confirm-fields input')];
  // A word not typed yet is asked for, not called wrong.
  const empty = inputs.filter((input) => !input.value.trim());
  for (const input of inputs) input.setAttribute('aria-invalid', String(empty.includes(input)));
  if (empty.length) {
    const numbers = empty.map((input) => `#${Number(input.dataset.index) + 1}`);
    const list = new Intl.ListFormat('en', { type: 'conjunction' }).format(numbers);
    setText('confirm-error', `Type word${numbers.length > 1 ? 's' : ''} ${list} from your phrase.`);
    empty[0].focus();
    return;
  }
  let ok = true;
  for (const input of inputs) {
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

/// The passphrase fields in clear while "Show the passphrase" is ticked.
export function showPassphrase() {
  const type = $('passphrase-show').checked ? 'text' : 'password';
  for (const id of ['passphrase', 'passphrase2']) $(id).type = type;
}

export function askPassword(phrase) {
  app.pendingPhrase = phrase;
  $('pw1').value = '';
  $('pw2').value = '';
  $('passphrase').value = '';
  $('passphrase2').value = '';
  $('passphrase-show').checked = false;
  showPassphrase();
  $('pw-advanced').open = false;
  setText('pw-error', '');
  showFirstAddress();
  show('password');
}

/// The first account's address of the phrase with the passphrase typed so far, before anything
/// is saved. BIP-39 cannot tell a wrong passphrase from a right one (every passphrase gives a
/// valid wallet): the address is how a user recognises theirs.
export function showFirstAddress() {
  if (!app.pendingPhrase) return;
  const passphrase = $('passphrase').value;
  const { address } = w.derive_account(app.pendingPhrase, passphrase, 0, 0);
  setAddress($('pw-address'), address);
  setText('pw-address-note', passphrase
    ? 'With this passphrase. A different passphrase gives a different wallet, with no error: check that this is the address you expect.'
    : 'Without a passphrase.', 'hint');
}

export function checkImport() {
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

export async function savePassword(ev) {
  ev.preventDefault();
  const p1 = $('pw1').value;
  const p2 = $('pw2').value;
  if (p1.length < 8) return setText('pw-error', 'Use at least 8 characters.');
  if (p1 !== p2) return setText('pw-error', 'The two passwords differ.');
  // A mistyped passphrase is another wallet, with no error: it is typed twice.
  if ($('passphrase').value !== $('passphrase2').value) return setText('pw-error', 'The two passphrases differ.');
  $('pw-submit').disabled = true;
  setText('pw-error', 'Encrypting…', 'hint');
  try {
    // The KDF runs in WebCrypto, off the main thread's script: the message paints meanwhile.
    const passphrase = $('passphrase').value;
    const vault = await w.encrypt_wallet(app.pendingPhrase, passphrase, p1);
    const account = w.derive_account(app.pendingPhrase, passphrase, 0, 0);
    store.setItem(VAULT, vault);
    store.setItem(ADDRESS, account.address);
    // A new wallet starts with its first account; another wallet's list does not carry over.
    store.removeItem(ACCOUNTS);
    const phrase = app.pendingPhrase;
    app.pendingPhrase = null;
    app.draft = null;
    $('passphrase').value = '';
    $('passphrase2').value = '';
    setText('pw-error', '', 'error');
    await unlocked(phrase, passphrase);
  } catch (e) {
    setText('pw-error', errorMessage(e), 'error');
  } finally {
    $('pw-submit').disabled = false;
  }
}

export async function unlock(ev) {
  ev.preventDefault();
  const pw = $('unlock-pw').value;
  if (!pw) return setText('unlock-error', 'Enter your password.');
  $('unlock-submit').disabled = true;
  setText('unlock-error', 'Unlocking…', 'hint');
  try {
    const [phrase, passphrase] = await w.decrypt_wallet(store.getItem(VAULT), pw);
    $('unlock-pw').value = '';
    setText('unlock-error', '', 'error');
    await unlocked(phrase, passphrase);
  } catch (e) {
    const msg = errorMessage(e);
    setText('unlock-error', msg === 'wrong password' ? 'Wrong password.' : msg, 'error');
    $('unlock-pw').select();
  } finally {
    $('unlock-submit').disabled = false;
  }
}

/// The phrase is known: the client starts (from the saved checkpoint if the phrase's key sealed
/// it) or, already running, gets the key to seal checkpoints from now on; the selected account
/// is shown and watched.
async function unlocked(phrase, passphrase) {
  await connect(phrase);
  app.phrase = phrase;
  app.passphrase = passphrase;
  app.lastActivity = Date.now();
  try {
    loadWallets();
    selectAccount(app.accounts.selected);
  } catch (e) {
    // Never unlocked halfway: the phrase goes with the failure.
    app.phrase = null;
    app.passphrase = null;
    throw e;
  }
  show('home');
}

export function forget() {
  // eslint-disable-next-line no-alert
  if (!window.confirm('Remove the encrypted wallet from this browser? Without your recovery phrase the coins are lost.')) return;
  store.removeItem(VAULT);
  store.removeItem(ADDRESS);
  store.removeItem(ACCOUNTS);
  store.removeItem(CONTACTS);
  app.address = null;
  show('welcome');
}
