// The verifying client's thread (a module Web Worker, started by js/remote.js): the wasm
// `Client` with its relay connections and every proof check runs here, so the page's thread
// stays free while the client catches up. It imports nothing but the wasm glue (the static
// bundle links that one import itself: js/remote.js, `bundledWorker`).
//
// Messages in: { type: 'call', id, method, args, now } ('start' first, then the client's methods and
// 'status'), { type: 'watch', address, now }, { type: 'close' }. Out: { type: 'event', event,
// status, checkpoint? } for every client event, and { id, value } or { id, error } per call.

import init, * as w from '../pkg/memecoin_wasm.js';

let client = null;

// What goes wrong here is said on the page's console, where it is seen (a wasm panic is
// logged with console.error by the client's panic hook).
const report = (text) => postMessage({ type: 'error', text });
const consoleError = console.error;
console.error = (...args) => {
  consoleError(...args);
  report(args.map(String).join(' '));
};
addEventListener('unhandledrejection', (e) => report(`unhandled: ${e.reason}`));

// The page's clock (every message carries its `Date.now()`): the client judges staleness and
// expiry at the time the page shows, even where the page's clock is not this thread's (a test's
// clock moved on). Only ever forward: a message's `now` is as old as the time it waited in this
// thread's queue, and a clock held back by that would take honest heads for ones from the
// future. With one system clock on both sides the offset stays 0.
const realNow = Date.now;
let offset = 0;
Date.now = () => realNow() + offset;

function snapshot() {
  return client ? { status: client.status() } : {};
}

function onEvent(event) {
  const message = { type: 'event', event, ...snapshot() };
  // The position to seal and save moves with finality.
  if (event.type === 'finalized') message.checkpoint = client.checkpoint();
  postMessage(message);
}

async function start({ module, genesis, checkpoint, urls }) {
  await init({ module_or_path: module });
  let resumed = false;
  if (checkpoint) {
    try {
      client = w.Client.resume(genesis, checkpoint, urls, onEvent);
      resumed = true;
    } catch {
      // Not a position this chain spec accepts: start from the chain spec, and say so.
    }
  }
  if (!client) client = new w.Client(genesis, urls, onEvent);
  return { chainId: client.chain_id(), params: client.params(), resumed, checkpoint: client.checkpoint(), ...snapshot() };
}

const METHODS = {
  start,
  status: () => snapshot(),
  account: (address) => client.account(address),
  registration: (key) => client.registration(key),
  submit: (tx) => client.submit(tx),
  tx_status: (id) => client.tx_status(id),
};

onmessage = async ({ data: m }) => {
  if (typeof m.now === 'number') offset = Math.max(offset, m.now - realNow());
  if (m.type === 'watch') {
    try {
      client?.watch(m.address);
    } catch (e) {
      // The address was checked on the page; what is left is a bound (64 watched addresses).
      report(`cannot watch ${m.address}: ${e instanceof Error ? e.message : e}`);
    }
    return;
  }
  if (m.type === 'close') {
    client?.close();
    return;
  }
  try {
    const value = await METHODS[m.method](...(m.args ?? []));
    postMessage({ id: m.id, value });
  } catch (e) {
    postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
};
