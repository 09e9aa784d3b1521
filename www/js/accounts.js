// The wallet's accounts and address book, as data: kept in localStorage, not secret (names,
// account indexes, addresses). Pure (no DOM, no wasm, no storage): wallets.js renders and stores
// them; tests/js/wallet/ checks them.
//
// An account is either keyed, `{ name, account, address }` — account index `account` of the
// phrase, signing with key 0 of it (m/44'/7337'/account'/0'/0'), `address` derived at creation so
// the list shows without unlocking — or watch-only, `{ name, address, watch: true }`: an address
// with no key, whose balance and activity are verified like any other. Each list is bounded: at
// the bound, adding is refused with a message that says so, and nothing changes.

/// Accounts in the list (keyed and watch-only together).
export const MAX_ACCOUNTS = 20;
/// Contacts in the address book.
export const MAX_CONTACTS = 100;
/// Characters of a name.
export const MAX_NAME = 32;

/// `name` trimmed, or throws why it cannot be one.
export function cleanName(name) {
  const n = String(name || '').trim();
  if (!n) throw new Error('Enter a name.');
  if ([...n].length > MAX_NAME) throw new Error(`A name has at most ${MAX_NAME} characters.`);
  return n;
}

/// The stored list (`{ selected, list }` as JSON text), or, when there is none yet, the first
/// account of the wallet whose address was saved with the vault. Entries that are not
/// well-formed are dropped; `selected` is kept within the list.
export function loadAccounts(text, firstAddress) {
  let data = null;
  try {
    data = JSON.parse(text || 'null');
  } catch {
    data = null;
  }
  const list = (data && Array.isArray(data.list) ? data.list : []).filter((a) => a
    && typeof a.name === 'string' && typeof a.address === 'string'
    && (a.watch === true || Number.isInteger(a.account))).slice(0, MAX_ACCOUNTS);
  if (!list.some((a) => a.account === 0) && firstAddress) {
    list.unshift({ name: 'Account 1', account: 0, address: firstAddress });
  }
  const selected = data && Number.isInteger(data.selected) && data.selected < list.length ? data.selected : 0;
  return { selected: Math.max(0, selected), list };
}

export function storedAccounts(accounts) {
  return JSON.stringify({ selected: accounts.selected, list: accounts.list });
}

function roomFor(list, address) {
  if (list.length >= MAX_ACCOUNTS) throw new Error(`This wallet holds at most ${MAX_ACCOUNTS} accounts.`);
  const same = list.find((a) => a.address === address);
  if (same) throw new Error(`Already in the list as "${same.name}".`);
}

/// The account index "Add account" derives next: one past the highest keyed one.
export function nextAccountIndex(list) {
  return list.reduce((n, a) => (a.watch ? n : Math.max(n, a.account + 1)), 0);
}

/// The accounts with keyed account `index` (address `address`) added and selected, named
/// "Account N" (N = index + 1).
export function addKeyed(accounts, index, address) {
  roomFor(accounts.list, address);
  const list = [...accounts.list, { name: `Account ${index + 1}`, account: index, address }];
  return { selected: list.length - 1, list };
}

/// The accounts with a watch-only address added and selected (the address already checked).
export function addWatch(accounts, name, address) {
  const n = cleanName(name);
  roomFor(accounts.list, address);
  const list = [...accounts.list, { name: n, address, watch: true }];
  return { selected: list.length - 1, list };
}

/// The accounts without entry `i`, the first keyed account (index 0) excepted: it is the
/// wallet's, shown at unlock. The selection moves to the first account.
export function remove(accounts, i) {
  const a = accounts.list[i];
  if (!a) return accounts;
  if (!a.watch && a.account === 0) throw new Error('The first account cannot be removed.');
  return { selected: 0, list: accounts.list.filter((_, j) => j !== i) };
}

/// The accounts with each entry checked by `check` (`(entry) => entry or null`: a keyed
/// account's address derived again from the phrase, a watched address parsed), the ones it
/// refuses dropped and the selection kept on the same entry when it survives.
export function verified(accounts, check) {
  const kept = [];
  let selected = 0;
  accounts.list.forEach((a, i) => {
    let ok = null;
    try {
      ok = check(a);
    } catch {
      ok = null;
    }
    if (!ok) return;
    if (i === accounts.selected) selected = kept.length;
    kept.push(ok);
  });
  return { selected, list: kept };
}

export function rename(accounts, i, name) {
  const n = cleanName(name);
  return { ...accounts, list: accounts.list.map((a, j) => (j === i ? { ...a, name: n } : a)) };
}

/// The contacts (`[{ name, address }]`, JSON text), well-formed entries only.
export function loadContacts(text) {
  let data = null;
  try {
    data = JSON.parse(text || '[]');
  } catch {
    data = [];
  }
  return (Array.isArray(data) ? data : [])
    .filter((c) => c && typeof c.name === 'string' && typeof c.address === 'string').slice(0, MAX_CONTACTS);
}

/// The contacts with `{ name, address }` added (the address already checked), sorted by name
/// for the picker. An address already there is renamed, not added twice.
export function addContact(contacts, name, address) {
  const n = cleanName(name);
  const rest = contacts.filter((c) => c.address !== address);
  if (rest.length >= MAX_CONTACTS) throw new Error(`The address book holds at most ${MAX_CONTACTS} contacts: remove one first.`);
  return [...rest, { name: n, address }].sort((x, y) => x.name.localeCompare(y.name));
}

export function removeContact(contacts, address) {
  return contacts.filter((c) => c.address !== address);
}

/// What an address is called here: one of this wallet's keyed accounts (`{ name, own: true }`),
/// a watched address (`{ name, own: false, watched: true }`: no key here, it is not "yours"), a
/// contact (`{ name, own: false }`), or null.
export function nameOf(address, accounts, contacts) {
  const a = accounts.list.find((x) => x.address === address);
  if (a) return a.watch ? { name: a.name, own: false, watched: true } : { name: a.name, own: true };
  const c = contacts.find((x) => x.address === address);
  return c ? { name: c.name, own: false } : null;
}

/// How a named address reads beside it (send form, review): `your account "Savings"`,
/// `watched address (no key here) "Cold"`, `contact "Ann"`.
export function nameLabel(named) {
  const what = named.own ? 'your account' : named.watched ? 'watched address (no key here)' : 'contact';
  return `${what} "${named.name}"`;
}

/// `meme1abcd…wxyz`: an address short enough for a switcher, with its start and end.
export function shortAddress(address) {
  return `${address.slice(0, 9)}…${address.slice(-4)}`;
}
