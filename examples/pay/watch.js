// The browser half of the example: follows one address's balance with @memecoin/client.
// The chain spec is genesis.json next to this page; relays come from ?relay=… (one or more),
// else the page's own host's /ws.

import { connect } from './node_modules/@memecoin/client/index.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const relays = query.getAll('relay');
if (relays.length === 0) relays.push(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);

const genesis = await (await fetch(query.get('genesis') ?? 'genesis.json')).text();
const provider = await connect({ genesis, relays });
const fmt = provider.wasm.format_amount;
let address = null;
let shown = -1n; // the height of the account shown: an older answer never replaces a newer one

provider.on('head', (e) => {
  $('chain').textContent = `Verified head #${e.anchor.height}`;
});
provider.on('account', (e) => {
  if (e.account.address === address) show(e.account);
});

function show(account) {
  if (account.at.height < shown) return;
  shown = account.at.height;
  $('balance').textContent = `${fmt(account.balance)} MEME — proven at block ${account.at.height}${account.finalized ? ' (final)' : ''}`;
}

$('address').addEventListener('input', async (ev) => {
  // Addresses may be written in upper case (QR codes); the client reports them in lower case.
  const text = ev.target.value.trim().toLowerCase();
  $('error').textContent = '';
  $('balance').textContent = '';
  address = null;
  shown = -1n;
  if (!text) return;
  try {
    provider.wasm.parse_address(text);
    address = text;
    await provider.request({ method: 'meme_watch', params: [address] });
    await provider.waitSynced();
    const account = await provider.request({ method: 'meme_getAccount', params: [text] });
    // A slow answer for an address typed before this one is not shown under it.
    if (address === text) show(account);
  } catch (e) {
    $('error').textContent = e.message;
  }
});
