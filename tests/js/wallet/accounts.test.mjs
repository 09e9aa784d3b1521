// The wallet page's accounts and address book (www/js/accounts.js): what is stored, the bounds,
// names. Run by `node --test tests/js/wallet/` (tests/tests/page.rs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_ACCOUNTS, MAX_CONTACTS, MAX_NAME, addContact, addKeyed, addWatch, cleanName, loadAccounts,
  loadContacts, nameLabel, nameOf, nextAccountIndex, remove, removeContact, rename, shortAddress, storedAccounts,
  verified,
} from '../../../www/js/accounts.js';

test('a wallet from before accounts gets its first account from the saved address', () => {
  assert.deepEqual(loadAccounts(null, 'meme1a'), { selected: 0, list: [{ name: 'Account 1', account: 0, address: 'meme1a' }] });
  assert.deepEqual(loadAccounts('not json', null), { selected: 0, list: [] });
  const kept = loadAccounts(storedAccounts({ selected: 1, list: [{ name: 'Main', account: 0, address: 'meme1a' }, { name: 'Cold', address: 'meme1w', watch: true }] }), 'meme1a');
  assert.equal(kept.selected, 1);
  assert.deepEqual(kept.list.map((a) => a.name), ['Main', 'Cold']);
  // Malformed entries are dropped, and a selection past the list falls back to the first.
  const odd = loadAccounts(JSON.stringify({ selected: 7, list: [{ name: 1 }, { name: 'x', address: 'meme1x' }] }), 'meme1a');
  assert.deepEqual(odd, { selected: 0, list: [{ name: 'Account 1', account: 0, address: 'meme1a' }] });
});

test('add account takes the next index, named after it, and selects it', () => {
  let acc = loadAccounts(null, 'meme1a');
  acc = addWatch(acc, ' Cold ', 'meme1w');
  assert.equal(nextAccountIndex(acc.list), 1, 'watch-only entries have no index');
  acc = addKeyed(acc, 1, 'meme1b');
  assert.deepEqual(acc.list[2], { name: 'Account 2', account: 1, address: 'meme1b' });
  assert.equal(acc.selected, 2);
  assert.equal(nextAccountIndex(acc.list), 2);
  assert.equal(acc.list[1].name, 'Cold');
  assert.throws(() => addWatch(acc, 'Again', 'meme1b'), /Already in the list as "Account 2"/);
});

test('the list is bounded: at the bound adding is refused and nothing changes', () => {
  let acc = loadAccounts(null, 'meme1a');
  for (let i = 1; i < MAX_ACCOUNTS; i += 1) acc = addKeyed(acc, i, `meme1k${i}`);
  assert.equal(acc.list.length, MAX_ACCOUNTS);
  const before = storedAccounts(acc);
  assert.throws(() => addKeyed(acc, MAX_ACCOUNTS, 'meme1z'), /at most 20 accounts/);
  assert.throws(() => addWatch(acc, 'w', 'meme1z'), /at most 20 accounts/);
  assert.equal(storedAccounts(acc), before);
});

test('names are trimmed, not empty, and short', () => {
  assert.equal(cleanName('  Savings '), 'Savings');
  assert.throws(() => cleanName('   '), /Enter a name/);
  assert.throws(() => cleanName('x'.repeat(MAX_NAME + 1)), /at most 32 characters/);
  assert.equal(cleanName('é'.repeat(MAX_NAME)).length, MAX_NAME);
  const acc = rename(loadAccounts(null, 'meme1a'), 0, 'Main');
  assert.equal(acc.list[0].name, 'Main');
  assert.throws(() => rename(acc, 0, ''), /Enter a name/);
});

test('contacts: one per address, sorted, bounded; names for Activity', () => {
  let book = loadContacts(null);
  book = addContact(book, 'Zoe', 'meme1z');
  book = addContact(book, 'Bob', 'meme1b');
  book = addContact(book, 'Bobby', 'meme1b');
  assert.deepEqual(book, [{ name: 'Bobby', address: 'meme1b' }, { name: 'Zoe', address: 'meme1z' }]);
  assert.deepEqual(removeContact(book, 'meme1z'), [{ name: 'Bobby', address: 'meme1b' }]);
  assert.deepEqual(loadContacts('{"x":1}'), []);
  let full = [];
  for (let i = 0; i < MAX_CONTACTS; i += 1) full.push({ name: `c${i}`, address: `meme1c${i}` });
  assert.throws(() => addContact(full, 'one more', 'meme1new'), /at most 100 contacts/);
  full = addContact(full, 'renamed', 'meme1c5');
  assert.equal(full.length, MAX_CONTACTS, 'renaming at the bound is allowed');
  const accounts = loadAccounts(null, 'meme1a');
  assert.deepEqual(nameOf('meme1a', accounts, book), { name: 'Account 1', own: true });
  assert.deepEqual(nameOf('meme1b', accounts, book), { name: 'Bobby', own: false });
  assert.equal(nameOf('meme1q', accounts, book), null);
  assert.equal(shortAddress('meme1vywuqspjczfy0d7tzdmsd9jcn0zn30gp2lw4t2'), 'meme1vywu…4t2'.replace('…4t2', '…w4t2'));
});

test('remove takes any entry but the first account off the list', () => {
  let acc = addKeyed(addWatch(loadAccounts(null, 'meme1a'), 'Cold', 'meme1w'), 1, 'meme1b');
  assert.throws(() => remove(acc, 0), /The first account cannot be removed/);
  acc = remove(acc, 1);
  assert.deepEqual(acc.list.map((a) => a.address), ['meme1a', 'meme1b']);
  assert.equal(acc.selected, 0, 'the selection goes back to the first account');
  assert.deepEqual(remove(acc, 9), acc, 'no such entry: nothing changes');
});

test('verified keeps what the check returns, drops what it refuses, and follows the selection', () => {
  const acc = { selected: 2, list: [
    { name: 'Main', account: 0, address: 'meme1stale' },
    { name: 'Bad', address: 'meme1bad', watch: true },
    { name: 'Cold', address: 'meme1w', watch: true },
  ] };
  const checked = verified(acc, (a) => {
    if (a.address === 'meme1bad') throw new Error('not an address');
    return a.watch ? a : { ...a, address: 'meme1derived' };
  });
  assert.deepEqual(checked.list.map((a) => a.address), ['meme1derived', 'meme1w']);
  assert.equal(checked.selected, 1, 'still on Cold');
  assert.equal(verified(acc, () => null).list.length, 0);
});

test('a watched address is named, but not as one of this wallet\'s accounts', () => {
  const acc = addWatch(loadAccounts(null, 'meme1a'), 'Cold', 'meme1w');
  assert.deepEqual(nameOf('meme1w', acc, []), { name: 'Cold', own: false, watched: true });
  assert.deepEqual(nameOf('meme1a', acc, []), { name: 'Account 1', own: true });
  assert.equal(nameLabel(nameOf('meme1w', acc, [])), 'watched address (no key here) "Cold"');
  assert.equal(nameLabel(nameOf('meme1a', acc, [])), 'your account "Account 1"');
  assert.equal(nameLabel(nameOf('meme1c', acc, [{ name: 'Ann', address: 'meme1c' }])), 'contact "Ann"');
});
