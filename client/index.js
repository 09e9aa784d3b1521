// @memecoin/client: memecoin's verifying client behind a small provider in the style of
// EIP-1193. Everything it answers about the chain was checked in WebAssembly (memecoin-core,
// the same build the wallet page runs) against finality signed by more than 2/3 of the stake;
// the relays it talks to are messengers, never authorities. Keys given to it never leave this
// process: transactions are signed here and only the signed bytes are sent.
//
// The wasm module is loaded once per program (`load`); every provider shares it.

import init, * as wasm from './pkg/memecoin_wasm.js';

/** Errors in EIP-1193's shape: a `code` (EIP-1193's and EIP-1474's numbers) and a message. */
export class ProviderRpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = 'ProviderRpcError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/** The codes `request` rejects with. */
export const ErrorCode = Object.freeze({
  /** The method needs a key and the provider was given none (`signer`). */
  UNAUTHORIZED: 4100,
  /** No such method. */
  UNSUPPORTED_METHOD: 4200,
  /** No relay is open, or the provider was closed. */
  DISCONNECTED: 4900,
  /** A parameter failed to parse, or the chain would refuse the transaction as asked. */
  INVALID_PARAMS: -32602,
  /** Every relay refused the transaction; `message` is the first refusal's reason. */
  TRANSACTION_REJECTED: -32003,
  /** Nothing could be verified in time, or a relay's answer failed verification. */
  RESOURCE_UNAVAILABLE: -32002,
});

let loaded = null;

/**
 * Loads the WebAssembly module (once; later calls return the same promise). In Node.js it is
 * read from this package's folder; in a browser it is fetched next to this file, or from
 * `source` (a URL, a `Response`, bytes or a compiled `WebAssembly.Module`).
 */
export function load(source) {
  loaded ??= (async () => {
    let module = source;
    if (module === undefined && globalThis.process?.versions?.node) {
      const { readFile } = await import('node:fs/promises');
      module = await readFile(new URL('./pkg/memecoin_wasm_bg.wasm', import.meta.url));
    }
    await init(module === undefined ? undefined : { module_or_path: module });
    return wasm;
  })();
  loaded.catch(() => {
    loaded = null;
  });
  return loaded;
}

/**
 * Connects to `relays` (1 to 8 `ws://…/ws` or `wss://…/ws` URLs) for the chain of `genesis`
 * (its chain spec, JSON text or object: the one thing the client trusts) and returns a
 * {@link Provider}. Options: `checkpoint` (from `meme_checkpoint`, to resume without
 * verifying from genesis), `signer` (`{ phrase, passphrase?, account? }`: the key that
 * `meme_sendTransaction` signs with), `WebSocket` (a constructor, for runtimes without a global
 * one, e.g. Node.js 20 without `--experimental-websocket`: the `ws` package's).
 */
export async function connect(options) {
  const { genesis, relays, checkpoint, signer, WebSocket: socket } = options ?? {};
  if (genesis === undefined || genesis === null) {
    throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'connect: `genesis` (the chain spec) is required');
  }
  if (!Array.isArray(relays) || relays.length === 0) {
    throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'connect: `relays` must list 1 to 8 relay URLs');
  }
  if (socket && typeof globalThis.WebSocket === 'undefined') globalThis.WebSocket = socket;
  if (typeof globalThis.WebSocket === 'undefined') {
    throw new ProviderRpcError(ErrorCode.DISCONNECTED,
      'connect: no WebSocket in this runtime: use Node.js 22 or newer, run Node.js 20 with --experimental-websocket, or pass `WebSocket` (e.g. from the ws package)');
  }
  const w = await load();
  const spec = typeof genesis === 'string' ? genesis : JSON.stringify(genesis);
  return new Provider(w, spec, relays.map(String), checkpoint, signer);
}

/// `request`'s methods, filled in by `Provider`'s static block (they use its private fields).
let METHODS;

const EVENTS = ['connect', 'disconnect', 'relay', 'head', 'finalized', 'account', 'rejected',
  'disagreement', 'checkpoint', 'alarm'];

/**
 * A connection to the chain through relays, every answer verified. Use `request` for reads and
 * sends, `on` for what the client sees as it happens, `waitSynced` before the first read.
 */
export class Provider {
  #w;
  #spec;
  #client;
  #listeners = new Map();
  #signer = null;
  #pending = new Map(); // nonce → { id, spend } of the signer's sends a relay took, not yet used
  #queue = Promise.resolve(); // the signer's sends, one at a time (each takes the next nonce)
  #heads = new Map(); // address → the newest verified account seen in an `account` event
  #open = new Set(); // relay URLs whose connection is open
  #connected = false;
  #headSeen = false; // a relay sent a head that verified
  #closed = false;
  #alarm = null;

  constructor(w, spec, urls, checkpoint, signer) {
    this.#w = w;
    this.#spec = spec;
    if (signer) {
      const passphrase = signer.passphrase ?? '';
      const account = signer.account ?? 0;
      const derived = call(() => w.derive_account(signer.phrase, passphrase, account, 0));
      // Kept in this object only: no method returns it, and it is never sent.
      this.#signer = { phrase: signer.phrase, passphrase, account, address: derived.address,
        publicKey: derived.public_key };
    }
    const handle = (e) => this.#event(e);
    this.#client = call(() => (checkpoint
      ? w.Client.resume(spec, checkpoint, urls, handle)
      : new w.Client(spec, urls, handle)));
    if (this.#signer) this.#client.watch(this.#signer.address);
  }

  /** The raw wasm client (`Client` in pkg/memecoin_wasm.d.ts), for what `request` does not cover. */
  get client() {
    return this.#client;
  }

  /** The wasm bindings (amounts, addresses, phrases, signing), loaded. */
  get wasm() {
    return this.#w;
  }

  on(event, listener) {
    if (!EVENTS.includes(event)) throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, `unknown event \`${event}\`; events: ${EVENTS.join(', ')}`);
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return this;
  }

  once(event, listener) {
    const wrapped = (value) => {
      this.removeListener(event, wrapped);
      listener(value);
    };
    return this.on(event, wrapped);
  }

  removeListener(event, listener) {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  off(event, listener) {
    return this.removeListener(event, listener);
  }

  /**
   * Resolves once the client follows the chain: a relay is open and has sent a head that
   * verified, the newest verified block is at most two epochs old by this machine's clock, and finality has not stalled (more than 3
   * epochs without it). Rejects after `timeoutMs` (default 60 s) with what it saw, or at once
   * after conflicting finality (the client has stopped).
   */
  waitSynced({ timeoutMs = 60_000 } = {}) {
    // setTimeout fires at once above 2^31 - 1 ms (about 24.8 days): that is the longest wait.
    timeoutMs = Math.min(Math.max(0, Number(timeoutMs) || 0), 2 ** 31 - 1);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#alarm) return done(new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE, `the client stopped: ${this.#alarm}`));
        if (this.#closed) return done(new ProviderRpcError(ErrorCode.DISCONNECTED, 'the provider was closed'));
        const status = this.#client.status();
        if (this.#synced(status)) return done(null, status);
        return undefined;
      };
      const timer = setTimeout(() => {
        const s = this.#client.status();
        done(new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE,
          `not synced after ${timeoutMs} ms: verified head ${s.head.height}, finalized ${s.finalized.height}, ${this.#open.size} relay(s) open${s.stalled ? ', finality stalled' : ''}`));
      }, timeoutMs);
      const poll = setInterval(check, 250);
      const done = (error, status) => {
        clearTimeout(timer);
        clearInterval(poll);
        for (const e of ['head', 'finalized', 'relay', 'alarm']) this.removeListener(e, check);
        if (error) reject(error);
        else resolve(status);
      };
      for (const e of ['head', 'finalized', 'relay', 'alarm']) this.on(e, check);
      check();
    });
  }

  #synced(status) {
    // Until a relay's head verifies, the client only knows its starting point (genesis or the
    // checkpoint), which on a young chain is recent too.
    if (this.#open.size === 0 || !this.#headSeen || status.stalled) return false;
    const p = this.#client.params();
    // The finalized block's age, less the slots from it to the verified head: the head's age.
    const ahead = (status.head.slot - status.finalized.slot) * p.slot_ms;
    const headAge = status.age_ms - ahead;
    return headAge <= 2n * p.slots_per_epoch * p.slot_ms;
  }

  /** Closes every relay connection; pending requests fail and `request` rejects from now on. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  /**
   * `{ method, params }` → a promise of the result. Methods (params as an array):
   * - `meme_chainId` → the chain id (genesis hash, hex)
   * - `meme_params` → the chain's parameters (from the chain spec)
   * - `meme_status` → verified head and finalized blocks, relays, `synced`
   * - `meme_blockNumber` → the verified head's height (bigint)
   * - `meme_finalized` → the verified finalized block
   * - `meme_checkpoint` → the verified position, to resume from (`connect`'s `checkpoint`)
   * - `meme_accounts` → the signer's address, or `[]`
   * - `meme_getAccount` [address] → the account proven at the finalized block
   * - `meme_getBalance` [address] → its balance in base units (bigint)
   * - `meme_watch` [address] → `null`; `account` events follow it
   * - `meme_signTransaction` [tx] → `{ tx, id }` signed, not sent
   * - `meme_sendTransaction` [tx] → the transaction id, once a relay accepted it
   * - `meme_sendRawTransaction` [txHex] → the transaction id
   * - `meme_getTransaction` [txId] → its status (proven where it says `verified`)
   * - `meme_waitForTransaction` [txId, { finalized = true, timeoutMs = 120000 }] → its status
   *   once proven included (or finalized)
   *
   * `tx` is `{ to, amount, fee?, nonce? }`: amounts as a bigint of base units or a decimal
   * string of MEME ("2.5"); `fee` defaults to the chain's minimum, `nonce` to the next one.
   */
  async request(args) {
    const { method, params = [] } = args ?? {};
    if (this.#closed) throw new ProviderRpcError(ErrorCode.DISCONNECTED, 'the provider was closed');
    if (!Array.isArray(params)) throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, '`params` must be an array');
    const handler = METHODS[method];
    if (!handler) throw new ProviderRpcError(ErrorCode.UNSUPPORTED_METHOD, `unsupported method \`${method}\``);
    return handler.call(this, ...params);
  }

  static {
    // Private members are reachable only from inside the class body: the method table is
    // built here.
    METHODS = {
      meme_chainId() {
        return this.#client.chain_id();
      },
      meme_params() {
        return this.#client.params();
      },
      meme_status() {
        const status = this.#client.status();
        return { ...status, synced: this.#synced(status) };
      },
      meme_blockNumber() {
        return this.#client.status().head.height;
      },
      meme_finalized() {
        return this.#client.status().finalized;
      },
      meme_checkpoint() {
        return this.#client.checkpoint();
      },
      meme_accounts() {
        return this.#signer ? [this.#signer.address] : [];
      },
      async meme_getAccount(address) {
        return this.#account(address);
      },
      async meme_getBalance(address) {
        return (await this.#account(address)).balance;
      },
      meme_watch(address) {
        call(() => this.#client.watch(address));
        return null;
      },
      async meme_signTransaction(tx) {
        const { tx: signed, id, nonce } = await this.#serial(() => this.#sign(tx));
        return { tx: signed, id, nonce };
      },
      async meme_sendTransaction(tx) {
        // Signed and sent one at a time: two calls at once would otherwise take one nonce.
        return this.#serial(async () => {
          const signed = await this.#sign(tx);
          return this.#submit(signed.tx, { nonce: signed.nonce, spend: signed.spend });
        });
      },
      async meme_sendRawTransaction(txHex) {
        if (typeof txHex !== 'string') throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'meme_sendRawTransaction: give the signed transaction as hex');
        const summary = call(() => this.#w.describe_tx(txHex));
        // The signer's own (signed earlier with meme_signTransaction): its nonce is taken.
        const own = this.#signer && summary.sender === this.#signer.address;
        const mine = own ? { nonce: summary.nonce, spend: summary.amount + summary.fee } : null;
        return this.#serial(() => this.#submit(txHex, mine));
      },
      async meme_getTransaction(txId) {
        return this.#txStatus(txId);
      },
      async meme_waitForTransaction(txId, { finalized = true, timeoutMs = 120_000 } = {}) {
        const deadline = Date.now() + timeoutMs;
        const pause = Math.max(100, Number(this.#client.params().slot_ms) / 2);
        for (;;) {
          if (this.#closed) throw new ProviderRpcError(ErrorCode.DISCONNECTED, 'the provider was closed');
          let status = null;
          try {
            status = await this.#txStatus(txId);
          } catch (e) {
            if (e.code !== ErrorCode.RESOURCE_UNAVAILABLE) throw e;
          }
          if (status?.verified && (status.status === 'finalized' || (!finalized && status.status === 'included'))) {
            return status;
          }
          if (Date.now() > deadline) {
            throw new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE,
              `transaction ${txId} not proven ${finalized ? 'finalized' : 'included'} after ${timeoutMs} ms (last: ${status ? status.status : 'no answer'})`, status ?? undefined);
          }
          await new Promise((r) => setTimeout(r, pause));
        }
      },
    };
  }

  async #account(address) {
    if (typeof address !== 'string') throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'give an address (meme1…)');
    call(() => this.#w.parse_address(address));
    this.#live();
    try {
      return await this.#client.account(address);
    } catch (e) {
      throw new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE, `no relay gave a proof that verifies: ${reason(e)}`);
    }
  }

  async #txStatus(txId) {
    if (typeof txId !== 'string' || !/^[0-9a-f]{64}$/.test(txId)) {
      throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'give a transaction id: 64 lower-case hex digits');
    }
    this.#live();
    try {
      return await this.#client.tx_status(txId);
    } catch (e) {
      throw new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE, reason(e));
    }
  }

  /// Runs `f` after every send queued before it (a failure does not stop the queue).
  #serial(f) {
    const run = this.#queue.then(f, f);
    this.#queue = run.then(() => {}, () => {});
    return run;
  }

  /// Sends; once a relay accepted it, a transaction of the signer's (`own`: its nonce and what
  /// it spends) holds its nonce until the chain has used it.
  async #submit(txHex, own) {
    this.#live();
    let result;
    try {
      result = await this.#client.submit(txHex);
    } catch (e) {
      throw new ProviderRpcError(ErrorCode.DISCONNECTED, `no relay answered: ${reason(e)}`);
    }
    if (!result.accepted) {
      throw new ProviderRpcError(ErrorCode.TRANSACTION_REJECTED, `refused by ${result.relay}: ${result.reason}`, result);
    }
    if (own) this.#pending.set(own.nonce, { id: result.tx_id, spend: own.spend });
    return result.tx_id;
  }

  /// Signs a transfer from the signer's account: checked first by core's rules against the
  /// proven account (`preview_tx`), so that a transfer the chain would refuse is not sent.
  async #sign(tx) {
    const s = this.#signer;
    if (!s) throw new ProviderRpcError(ErrorCode.UNAUTHORIZED, 'this provider has no key: pass `signer` to connect');
    if (typeof tx !== 'object' || tx === null) throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, 'give a transaction: { to, amount, fee?, nonce? }');
    const w = this.#w;
    const params = this.#client.params();
    const to = tx.to;
    if (typeof to !== 'string') throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, '`to`: give an address (meme1…)');
    call(() => w.parse_address(to), 'to');
    const amount = units(w, tx.amount, 'amount');
    const fee = tx.fee === undefined ? params.min_fee : units(w, tx.fee, 'fee');
    // The account as the chain has it: proven at the finalized block, or at a newer verified
    // head the client reported.
    const proven = await this.#account(s.address);
    const head = this.#heads.get(s.address);
    const account = head && head.nonce > proven.nonce ? head : proven;
    const chain = account.nonce;
    const next = await this.#nextNonce(chain);
    // A nonce set by hand may replace a pending one (the relays' replace-by-fee) or take the
    // next; below the chain's it is spent, above the next it would wait for a gap: core's
    // refusal, before anything is signed.
    const nonce = tx.nonce === undefined ? next : units(w, tx.nonce, 'nonce', true);
    const expected = nonce >= chain && nonce <= next ? nonce : chain;
    // What the chain would leave the sender, by core's rules, from the proven balance less what
    // this provider's other pending sends spend (one this replaces spends nothing once replaced).
    let balance = account.balance;
    for (const [n, { spend }] of this.#pending) {
      if (n !== nonce) balance = balance > spend ? balance - spend : 0n;
    }
    call(() => w.preview_tx(this.#spec, 'transfer', s.publicKey, to, amount, fee, nonce,
      expected, balance, account.stake, account.unbonding.length, account.slashed));
    const signed = call(() => w.sign_transfer(s.phrase, s.passphrase, s.account, 0,
      this.#client.chain_id(), nonce, fee, to, amount));
    return { tx: signed.tx, id: signed.id, nonce, spend: amount + fee };
  }

  /// The signer's next nonce after `chain` (the chain's): past its pending sends, which are
  /// dropped once the chain has used their nonces — or all at once when no relay has the one
  /// the chain waits for (dropped from every pool: the rest could never be included).
  async #nextNonce(chain) {
    for (const n of [...this.#pending.keys()]) if (n < chain) this.#pending.delete(n);
    if (this.#pending.size === 0) return chain;
    const waiting = this.#pending.get(chain);
    let gap = waiting === undefined;
    if (!gap) {
      const status = await this.#client.tx_status(waiting.id).catch(() => null);
      gap = status !== null && status.status === 'unknown';
    }
    if (gap) {
      this.#pending.clear();
      return chain;
    }
    let next = chain;
    while (this.#pending.has(next)) next += 1n;
    return next;
  }

  #live() {
    if (this.#closed) throw new ProviderRpcError(ErrorCode.DISCONNECTED, 'the provider was closed');
    if (this.#alarm) throw new ProviderRpcError(ErrorCode.RESOURCE_UNAVAILABLE, `the client stopped: ${this.#alarm}`);
  }

  #event(e) {
    switch (e.type) {
      case 'relay':
        if (e.state === 'open') this.#open.add(e.url);
        else this.#open.delete(e.url);
        if (e.state === 'open' && !this.#connected) {
          this.#connected = true;
          this.#emit('connect', { chainId: this.#client?.chain_id() });
        } else if (this.#connected && this.#open.size === 0) {
          this.#connected = false;
          this.#emit('disconnect', new ProviderRpcError(ErrorCode.DISCONNECTED, `no relay is open (${e.url}: ${e.reason ?? e.state})`));
        }
        break;
      case 'head':
        this.#headSeen = true;
        break;
      case 'account':
        this.#heads.set(e.account.address, e.account);
        break;
      case 'alarm':
        this.#alarm = e.detail;
        break;
      default:
        break;
    }
    this.#emit(e.type, e);
  }

  #emit(event, value) {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        listener(value);
      } catch (err) {
        // A listener's failure is the program's, not the client's: report it, keep going.
        console.error(err);
      }
    }
  }
}

/// A wasm call whose thrown `Error` (core's reason) becomes an INVALID_PARAMS error.
function call(f, what) {
  try {
    return f();
  } catch (e) {
    if (e instanceof ProviderRpcError) throw e;
    throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, what ? `${what}: ${reason(e)}` : reason(e));
  }
}

/// An amount as base units: a bigint as it is, a decimal string of MEME through the wasm's
/// exact parser (or, with `plain`, an integer such as a nonce).
function units(w, value, what, plain = false) {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 1n << 64n) throw new ProviderRpcError(ErrorCode.INVALID_PARAMS, `${what}: out of range`);
    return value;
  }
  if (plain && typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (!plain && typeof value === 'string') return call(() => w.parse_amount(value), what);
  throw new ProviderRpcError(ErrorCode.INVALID_PARAMS,
    plain ? `${what}: give a non-negative integer` : `${what}: give a bigint of base units or a decimal string of MEME, e.g. "2.5"`);
}

function reason(e) {
  return e instanceof Error ? e.message : String(e);
}
