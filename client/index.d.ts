// Types of @memecoin/client. The chain's own types (Anchor, VerifiedAccount, ChainParams,
// ClientStatus, TxStatus, ClientEvent) are the wasm module's, in pkg/memecoin_wasm.d.ts.

import type * as Wasm from './pkg/memecoin_wasm.js';
import type {
  Anchor,
  ChainParams,
  Client,
  ClientEvent,
  ClientStatus,
  TxStatus,
  VerifiedAccount,
} from './pkg/memecoin_wasm.js';

export type { Anchor, ChainParams, Client, ClientEvent, ClientStatus, TxStatus, VerifiedAccount };

export declare const ErrorCode: {
  readonly UNAUTHORIZED: 4100;
  readonly UNSUPPORTED_METHOD: 4200;
  readonly DISCONNECTED: 4900;
  readonly INVALID_PARAMS: -32602;
  readonly TRANSACTION_REJECTED: -32003;
  readonly RESOURCE_UNAVAILABLE: -32002;
};

export declare class ProviderRpcError extends Error {
  readonly code: number;
  readonly data?: unknown;
  constructor(code: number, message: string, data?: unknown);
}

/** The key `meme_sendTransaction` signs with: wallet `account` (default 0), key 0, of a
 *  BIP-39 phrase and optional passphrase. It never leaves the provider. */
export interface Signer {
  phrase: string;
  passphrase?: string;
  account?: number;
}

export interface ConnectOptions {
  /** The chain spec (genesis.json): JSON text or the parsed object. */
  genesis: string | object;
  /** 1 to 8 relay URLs, `ws://host:port/ws` or `wss://…/ws`. */
  relays: string[];
  /** A verified position from `meme_checkpoint`, to resume from instead of genesis. */
  checkpoint?: string;
  signer?: Signer;
  /** A WebSocket constructor for runtimes without a global one. */
  WebSocket?: unknown;
}

/** A transfer: amounts as bigint base units or a decimal string of MEME ("2.5"). */
export interface TransferRequest {
  to: string;
  amount: bigint | string;
  /** Default: the chain's minimum fee. */
  fee?: bigint | string;
  /** Default: the signer's next nonce. */
  nonce?: bigint | number;
}

export interface Methods {
  meme_chainId: { params: []; result: string };
  meme_params: { params: []; result: ChainParams };
  meme_status: { params: []; result: ClientStatus & { synced: boolean } };
  meme_blockNumber: { params: []; result: bigint };
  meme_finalized: { params: []; result: Anchor };
  meme_checkpoint: { params: []; result: string };
  meme_accounts: { params: []; result: string[] };
  meme_getAccount: { params: [address: string]; result: VerifiedAccount };
  meme_getBalance: { params: [address: string]; result: bigint };
  meme_watch: { params: [address: string]; result: null };
  meme_signTransaction: { params: [tx: TransferRequest]; result: { tx: string; id: string; nonce: bigint } };
  meme_sendTransaction: { params: [tx: TransferRequest]; result: string };
  meme_sendRawTransaction: { params: [txHex: string]; result: string };
  meme_getTransaction: { params: [txId: string]; result: TxStatus };
  meme_waitForTransaction: {
    params: [txId: string, options?: { finalized?: boolean; timeoutMs?: number }];
    result: TxStatus;
  };
}

export type RequestArguments<M extends keyof Methods = keyof Methods> = {
  method: M;
  params?: Methods[M]['params'];
};

type EventOf<T extends ClientEvent['type']> = Extract<ClientEvent, { type: T }>;

export interface ProviderEvents {
  connect: { chainId: string };
  disconnect: ProviderRpcError;
  relay: EventOf<'relay'>;
  head: EventOf<'head'>;
  finalized: EventOf<'finalized'>;
  account: EventOf<'account'>;
  rejected: EventOf<'rejected'>;
  disagreement: EventOf<'disagreement'>;
  checkpoint: EventOf<'checkpoint'>;
  alarm: EventOf<'alarm'>;
}

export declare class Provider {
  private constructor();
  /** The raw wasm client, for what `request` does not cover. */
  readonly client: Client;
  /** The wasm bindings: amounts, addresses, phrases, signing. */
  readonly wasm: typeof Wasm;
  request<M extends keyof Methods>(args: RequestArguments<M>): Promise<Methods[M]['result']>;
  on<E extends keyof ProviderEvents>(event: E, listener: (value: ProviderEvents[E]) => void): this;
  once<E extends keyof ProviderEvents>(event: E, listener: (value: ProviderEvents[E]) => void): this;
  removeListener<E extends keyof ProviderEvents>(event: E, listener: (value: ProviderEvents[E]) => void): this;
  off<E extends keyof ProviderEvents>(event: E, listener: (value: ProviderEvents[E]) => void): this;
  /** Resolves once a relay is open and sent a head that verified, the verified head is at most two epochs old and finality
   *  has not stalled; rejects after `timeoutMs` (default 60 000). */
  waitSynced(options?: { timeoutMs?: number }): Promise<ClientStatus>;
  close(): void;
}

/** Loads the WebAssembly module once (Node.js: from this package's folder; browsers: fetched
 *  next to index.js, or from `source`). */
export declare function load(source?: unknown): Promise<typeof Wasm>;

export declare function connect(options: ConnectOptions): Promise<Provider>;
