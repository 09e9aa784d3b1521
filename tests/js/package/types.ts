// Compiled (not run) by tests/tests/package.rs with `tsc --strict --noEmit` against
// @memecoin/client as installed from its tarball: the declarations a TypeScript program gets
// must type what the README shows, and refuse what the provider refuses.
import { connect, ErrorCode, ProviderRpcError } from '@memecoin/client';
import type { Provider, TxStatus, VerifiedAccount } from '@memecoin/client';

export async function tour(genesis: string, relays: string[], phrase: string): Promise<bigint> {
  const provider: Provider = await connect({ genesis, relays, signer: { phrase } });
  await provider.waitSynced({ timeoutMs: 30_000 });
  const chainId: string = await provider.request({ method: 'meme_chainId' });
  const [me] = await provider.request({ method: 'meme_accounts' });
  const account: VerifiedAccount = await provider.request({ method: 'meme_getAccount', params: [me] });
  const balance: bigint = await provider.request({ method: 'meme_getBalance', params: [me] });
  const id: string = await provider.request({
    method: 'meme_sendTransaction',
    params: [{ to: me, amount: '2.5', fee: 1_000n }],
  });
  const status: TxStatus = await provider.request({ method: 'meme_waitForTransaction', params: [id, { timeoutMs: 5_000 }] });
  provider.on('head', (e) => console.log(e.anchor.height + 1n, e.proposer));
  provider.on('disconnect', (e: ProviderRpcError) => console.log(e.code === ErrorCode.DISCONNECTED));
  provider.once('account', (e) => console.log(e.account.balance));
  // @ts-expect-error: not a method of the provider
  await provider.request({ method: 'eth_getBalance', params: [me] });
  // @ts-expect-error: an address is a string
  await provider.request({ method: 'meme_getBalance', params: [42] });
  // @ts-expect-error: not an event of the provider
  provider.on('message', () => {});
  provider.close();
  console.log(chainId, account.nonce, status.verified, provider.wasm.format_amount(balance));
  return balance;
}
