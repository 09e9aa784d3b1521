// The verifying client in a Web Worker (js/worker.js), seen from the page: an object with the
// wasm `Client`'s methods, so that proof checking and the relay connections never hold up the
// page's thread while the client catches up. Asynchronous methods go to the worker and back;
// the synchronous ones (`status`, `checkpoint`, `chain_id`, `params`) answer from the last
// snapshot the worker sent, which comes with every event and after every `status` call.
// The wallet has one clock, the page's: every message carries it, and the worker's client
// reads time from it (what is stalled or expired is judged at the time the page shows).

import * as w from '../pkg/memecoin_wasm.js';

/// A call without an answer by then fails: the worker is gone (it never is, short of a crash).
const CALL_TIMEOUT_MS = 60_000;

export class RemoteClient {
  /// Starts the worker and the client in it, on `module` (the page's compiled .wasm, which the
  /// worker instantiates: nothing is fetched or compiled twice): from `checkpoint` if given and
  /// it resumes (else from the chain spec; `resumed` says which), reporting to `onEvent`.
  /// `load` is how the worker gets its code: `{ url }` (served by a relay: the module's own
  /// URL), or `{ worker, glue }` as [url, integrity] pairs (the static bundle, which pins every
  /// byte: see `bundledWorker`).
  static async start(load, module, genesisJson, checkpoint, urls, onEvent) {
    const { worker, urls: blobs } = load.url
      ? { worker: new Worker(load.url, { type: 'module' }), urls: [] }
      : await bundledWorker(load);
    const client = new RemoteClient(worker, onEvent);
    let ready;
    try {
      ready = await client.#ask('start', { args: [{ module, genesis: genesisJson, checkpoint, urls }] });
    } catch (e) {
      // No worker is left running behind a failed start (a retry starts another).
      worker.terminate();
      throw e;
    } finally {
      // The worker has loaded its code (or failed to): the blob: URLs are not needed again.
      for (const url of blobs) URL.revokeObjectURL(url);
    }
    client.#chainId = ready.chainId;
    client.#params = ready.params;
    client.resumed = ready.resumed;
    client.#snapshot(ready);
    return client;
  }

  #worker;
  #onEvent;
  #calls = new Map(); // id → { resolve, reject, timer }
  #nextId = 1;
  #chainId = null;
  #params = null;
  #status = null;
  #statusAt = 0;
  #checkpoint = null;
  #dead = null; // why the worker stopped (an uncaught error in it): every call fails with it

  constructor(worker, onEvent) {
    this.#worker = worker;
    this.#onEvent = onEvent;
    worker.onmessage = (m) => this.#receive(m.data);
    // An error that reaches here was not caught in the worker (its calls and events catch
    // theirs): the client's state is unknown, so it is not used again. A submit in flight may
    // still have reached the relays: its transaction is followed in Activity all the same.
    worker.onerror = (e) => {
      this.#dead = new Error(`the client's worker failed: ${e.message ?? 'no reason given'}`);
      console.error(this.#dead.message);
      for (const call of this.#calls.values()) {
        clearTimeout(call.timer);
        call.reject(this.#dead);
      }
      this.#calls.clear();
      worker.terminate();
    };
  }

  chain_id() {
    return this.#chainId;
  }

  params() {
    return this.#params;
  }

  checkpoint() {
    return this.#checkpoint;
  }

  /// The last snapshot, its age brought up to now, and a fresh one asked for: `stalled` (core's
  /// rule, worked out in the worker) is at most one call late.
  status() {
    this.#ask('status').then((s) => this.#snapshot(s), () => {});
    const s = this.#status;
    return { ...s, age_ms: s.age_ms + BigInt(Math.max(0, Date.now() - this.#statusAt)) };
  }

  /// Checked here first, so that a bad address throws at once as the wasm client's would.
  watch(address) {
    w.parse_address(address);
    this.#worker.postMessage({ type: 'watch', address, now: Date.now() });
  }

  account(address) {
    return this.#ask('account', { args: [address] });
  }

  registration(publicKey) {
    return this.#ask('registration', { args: [publicKey] });
  }

  submit(txHex) {
    return this.#ask('submit', { args: [txHex] });
  }

  tx_status(txId) {
    return this.#ask('tx_status', { args: [txId] });
  }

  close() {
    this.#worker.postMessage({ type: 'close' });
  }

  #ask(method, body = {}) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new Error(`the client's worker did not answer ${method}`));
      }, CALL_TIMEOUT_MS);
      this.#calls.set(id, { resolve, reject, timer });
      this.#worker.postMessage({ type: 'call', id, method, now: Date.now(), ...body });
    });
  }

  #snapshot(s) {
    if (s.status) {
      this.#status = s.status;
      this.#statusAt = Date.now();
    }
    if (s.checkpoint) this.#checkpoint = s.checkpoint;
  }

  #receive(m) {
    if (m.type === 'error') {
      console.error(`client worker: ${m.text}`);
      return;
    }
    if (m.type === 'event') {
      this.#snapshot(m);
      this.#onEvent(m.event);
      return;
    }
    const call = this.#calls.get(m.id);
    if (!call) return;
    this.#calls.delete(m.id);
    clearTimeout(call.timer);
    if (m.error !== undefined) call.reject(new Error(m.error));
    else call.resolve(m.value);
  }
}

/// The static bundle's worker, and the `blob:` URLs to revoke once it has started: a worker cannot be loaded with subresource integrity, so its
/// code and the wasm glue it imports are fetched with their pinned SHA-384 here and started
/// from `blob:` URLs (the bundle's policy allows `blob:` scripts and workers for that; a
/// `blob:` URL can only be made by code already running in the page). The wasm is the page's,
/// checked when it was fetched.
async function bundledWorker({ worker, glue }) {
  const text = async ([url, integrity]) => {
    const res = await fetch(url, { integrity });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.text();
  };
  const [code, glueCode] = await Promise.all([text(worker), text(glue)]);
  const from = code.indexOf(GLUE_SPECIFIER);
  if (from < 0) throw new Error('the worker does not import the wasm glue as expected');
  const blob = (source) => URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const glueUrl = blob(glueCode);
  const workerUrl = blob(code.slice(0, from) + glueUrl + code.slice(from + GLUE_SPECIFIER.length));
  return { worker: new Worker(workerUrl, { type: 'module' }), urls: [glueUrl, workerUrl] };
}

/// How js/worker.js names the wasm glue; the bundle leaves it as it is (tools/wallet/bundle.mjs).
const GLUE_SPECIFIER = '../pkg/memecoin_wasm.js';
