// The page's state and what it keeps in storage. One object, read and changed by the other
// modules; nothing secret is stored but the vault (the phrase encrypted by the wasm vault).

import { Warnings } from './warnings.js';

/// Set in a static bundle (`cargo xtask wallet`, tools/wallet/bundle.mjs): the chain spec and
/// the wasm, each with its SHA-384 (checked by the browser as `integrity`), and the relays to
/// use. `null` when a relay serves the page (devnets): then `genesis.json` and `/ws` are its.
export const BUNDLE = null;

export const store = globalThis.localStorage;
export const VAULT = 'memecoin.vault';
export const ADDRESS = 'memecoin.address';
export const AUTOLOCK = 'memecoin.autolock';
export const ACCOUNTS = 'memecoin.accounts'; // accounts.js: names, indexes, watched addresses
export const CONTACTS = 'memecoin.contacts'; // accounts.js: the address book

export const app = {
  genesisJson: null,
  wasmModule: null, // the compiled .wasm, shared with the client's worker
  chainName: '',
  chainId: '',
  client: null,
  params: null,
  specDigest: null, // SHA-256 of the chain spec, hex
  checkpointKey: null, // storage key of the saved checkpoint (per chain spec)
  checkpointMac: null, // the key sealing it, derived from the phrase at the first unlock
  phrase: null, // only while unlocked
  passphrase: null, // the BIP-39 passphrase ('' for none), only while unlocked
  accounts: { selected: 0, list: [] }, // accounts.js: the switcher's list
  contacts: [], // accounts.js: the address book
  accountIndex: 0, // the selected account's index (its key signs), null if watch-only
  watchOnly: false, // the selected account is an address without a key
  requestMemo: '', // the payee's note of a `meme:` request pasted into the send form (not sent)
  requestAddress: null, // that request's address (the note goes when another recipient is typed)
  contactsBack: null, // the screen the address book returns to
  address: null, // the selected account's address
  publicKey: null, // the address's key (hex): what the registry is keyed by
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
  warnings: new Warnings(),
  faucetCountdown: null, // the timer counting down a faucet refusal's "try again in N s"
  copyTimer: null, // the timer that clears "Address copied."
  hideDust: true, // small payments from senders never seen before are hidden
  screen: null,
};

export function alarmKey() {
  return `memecoin.alarm.${app.chainId}`;
}

export function historyKey() {
  return `memecoin.history.${app.chainId}.${app.address}`;
}
