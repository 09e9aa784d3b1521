// The accounts on screen: the switcher (name and short address), add account, rename, watch an
// address, the address book's screen, and the receive request (QR of a `meme:` URI). The lists
// themselves are accounts.js (pure); what an account is and why is said there.

import * as w from '../pkg/memecoin_wasm.js';
import { refreshAccount, renderAccount } from './account.js';
import * as A from './accounts.js';
import { errorMessage, groupAddress } from './format.js';
import { loadHistory, refreshHistory, renderHistory, syncListedHistory } from './history.js';
import { addressCheck } from './send.js';
import { ACCOUNTS, ADDRESS, CONTACTS, app, store } from './state.js';
import { $, setAddress, setText, show } from './ui.js';

function save(key, text) {
  try {
    store.setItem(key, text);
  } catch {
    // Storage full or unavailable: the list holds for this session.
  }
}

/// The lists from storage, every entry checked: a keyed account's address derived again from
/// the phrase (storage is not trusted to say which addresses are this wallet's), a watched
/// address or a contact parsed by the wasm; what fails is dropped.
export function loadWallets() {
  const accounts = A.loadAccounts(store.getItem(ACCOUNTS), store.getItem(ADDRESS));
  app.accounts = A.verified(accounts, (a) => {
    if (a.watch) return { ...a, address: w.format_address(w.parse_address(a.address)) };
    if (!app.phrase || a.account < 0 || a.account >= 2 ** 31) return null;
    return { ...a, address: w.derive_account(app.phrase, app.passphrase, a.account, 0).address };
  });
  app.contacts = A.loadContacts(store.getItem(CONTACTS)).filter((c) => {
    try {
      w.parse_address(c.address);
      return true;
    } catch {
      return false;
    }
  });
}

const saveAccounts = () => save(ACCOUNTS, A.storedAccounts(app.accounts));
const saveContacts = () => save(CONTACTS, JSON.stringify(app.contacts));

/// Makes account `i` the one shown, watched by the client and signed for. A keyed account's
/// address is derived again from the phrase: storage is not trusted to say where coins go.
export function selectAccount(i) {
  const a = app.accounts.list[i] || app.accounts.list[0];
  app.accounts.selected = app.accounts.list.indexOf(a);
  app.watchOnly = Boolean(a.watch);
  app.accountIndex = a.watch ? null : a.account;
  app.publicKey = null;
  if (!a.watch && app.phrase) {
    const key = w.derive_account(app.phrase, app.passphrase, a.account, 0);
    a.address = key.address;
    app.publicKey = key.public_key;
  }
  saveAccounts();
  if (app.address !== a.address) {
    app.address = a.address;
    app.account = null;
    app.headAccount = null;
    app.accountProblem = null;
    app.accountWaiting = null;
    app.history = loadHistory();
    if (app.client) app.client.watch(app.address);
  }
  setAddress($('address'), app.address);
  renderSwitcher();
  renderRequest();
  renderAccount();
  renderHistory();
  refreshAccount();
  refreshHistory();
  syncListedHistory();
}

export function renderSwitcher() {
  const select = $('account-select');
  select.replaceChildren(...app.accounts.list.map((a, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = `${a.name} · ${A.shortAddress(a.address)}${a.watch ? ' (watch-only)' : ''}`;
    return o;
  }));
  select.value = String(app.accounts.selected);
  setText('address-label', app.watchOnly ? 'Watched address (no key in this wallet)' : 'Your address');
  // Send and Stake need this account's key; after conflicting finality nothing is signed.
  for (const id of ['go-send', 'go-stake']) $(id).disabled = Boolean(app.alarm) || app.watchOnly;
  $('watch-note').hidden = !app.watchOnly;
}

export function addAccount() {
  if (!app.phrase) return;
  try {
    const index = A.nextAccountIndex(app.accounts.list);
    const key = w.derive_account(app.phrase, app.passphrase, index, 0);
    app.accounts = A.addKeyed(app.accounts, index, key.address);
    setText('accounts-status', '', 'hint');
    selectAccount(app.accounts.selected);
  } catch (e) {
    setText('accounts-status', errorMessage(e), 'hint bad');
  }
}

export function removeAccount() {
  const a = app.accounts.list[app.accounts.selected];
  // eslint-disable-next-line no-alert
  if (!a || !window.confirm(`Remove "${a.name}" from this wallet's list? ${a.watch ? 'It is only watched: nothing is lost.' : 'Its coins stay on the chain, under this recovery phrase.'}`)) return;
  try {
    app.accounts = A.remove(app.accounts, app.accounts.selected);
    setText('accounts-status', '', 'hint');
    selectAccount(app.accounts.selected);
  } catch (e) {
    setText('accounts-status', errorMessage(e), 'hint bad');
  }
}

export function startRename() {
  $('rename-form').hidden = false;
  $('rename-name').value = app.accounts.list[app.accounts.selected].name;
  $('rename-name').select();
}

export function saveRename(ev) {
  ev.preventDefault();
  try {
    app.accounts = A.rename(app.accounts, app.accounts.selected, $('rename-name').value);
    saveAccounts();
    $('rename-form').hidden = true;
    setText('accounts-status', '', 'hint');
    renderSwitcher();
    renderHistory();
  } catch (e) {
    setText('accounts-status', errorMessage(e), 'hint bad');
  }
}

export function openWatch() {
  $('watch-form').reset();
  for (const id of ['watch-check', 'watch-error']) setText(id, '', 'hint');
  show('watch');
}

export function saveWatch(ev) {
  ev.preventDefault();
  const address = addressCheck('watch-address', 'watch-check', false);
  if (address === null) return;
  try {
    app.accounts = A.addWatch(app.accounts, $('watch-name').value, address);
    selectAccount(app.accounts.selected);
    show('home');
  } catch (e) {
    setText('watch-error', errorMessage(e), 'error');
  }
}

/// The address book's screen; `address` prefills the form (from Activity or the send form), and
/// `back` is the screen to return to (the send form keeps what was typed).
export function openContacts(address = '', back = 'home') {
  app.contactsBack = back;
  $('contact-form').reset();
  $('contact-address').value = address;
  for (const id of ['contact-check', 'contact-error']) setText(id, '', 'hint');
  if (address) addressCheck('contact-address', 'contact-check', false);
  renderContacts();
  show('contacts');
  if (address) $('contact-name').focus();
}

function renderContacts() {
  const list = $('contacts');
  if (!app.contacts.length) {
    list.innerHTML = '<li class="hint">No contacts yet.</li>';
    return;
  }
  list.replaceChildren(...app.contacts.map((c) => {
    const li = document.createElement('li');
    li.innerHTML = '<span></span><span class="mono small"></span><button type="button" class="link">Remove</button>';
    li.children[0].textContent = c.name;
    li.children[1].textContent = groupAddress(c.address);
    li.children[2].addEventListener('click', () => {
      app.contacts = A.removeContact(app.contacts, c.address);
      saveContacts();
      renderContacts();
      renderHistory();
    });
    return li;
  }));
}

export function saveContact(ev) {
  ev.preventDefault();
  const address = addressCheck('contact-address', 'contact-check', false);
  if (address === null) return;
  try {
    app.contacts = A.addContact(app.contacts, $('contact-name').value, address);
    saveContacts();
    renderHistory();
    closeContacts();
  } catch (e) {
    setText('contact-error', errorMessage(e), 'error');
  }
}

export function closeContacts() {
  const back = app.contactsBack || 'home';
  show(back);
  if (back === 'send') $('to').dispatchEvent(new Event('input'));
}

/// The receive QR code: this address as a `meme:` payment request, with the amount and memo
/// the user may add (the wasm `payment_uri`, PROTOCOL.md §5.6). A bare request is drawn in upper
/// case, which a QR code holds in its denser alphanumeric mode (parsing ignores the case of the
/// scheme and the address); one with parameters is drawn as written, since names are lower case.
export async function renderRequest() {
  // Drawn when shown: the QR module (7.6 KB gzipped) is loaded the first time Receive opens,
  // not with the page.
  if (!app.address || $('receive').hidden) return;
  const amountText = $('request-amount').value.trim();
  let uri;
  try {
    const amount = amountText ? w.parse_amount(amountText) : undefined;
    uri = w.payment_uri(app.address, amount, $('request-memo').value);
    setText('request-check', '', 'hint');
  } catch (e) {
    setText('request-check', errorMessage(e), 'hint bad');
    uri = w.payment_uri(app.address, undefined, '');
  }
  const bare = !uri.includes('?');
  $('request-uri').textContent = uri;
  let qr;
  try {
    qr = await import('../vendor/uqr.js');
  } catch (e) {
    setText('request-check', `The QR code could not be drawn: ${errorMessage(e)}`, 'hint bad');
    return;
  }
  // The request may have changed while the module loaded: draw the one shown.
  if ($('request-uri').textContent === uri) {
    $('qr').innerHTML = qr.renderSVG(bare ? uri.toUpperCase() : uri, { ecc: 'M', border: 2 });
  }
}
