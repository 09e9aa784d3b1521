// Pays with @memecoin/client from Node.js: reads the sender's verified balance, sends a
// transfer, waits until it is proven finalized and prints both balances as proven then.
//
//   MEMECOIN_PHRASE="…" node pay.mjs --genesis genesis.json --relay ws://127.0.0.1:8080/ws \
//       [--relay …] [--to meme1… --amount 2.5]
//
// Without --to it only prints the balance. The phrase is read from the environment, never
// from the command line (which other users of the machine can see).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from '@memecoin/client';

const { values } = parseArgs({
  options: {
    genesis: { type: 'string' },
    relay: { type: 'string', multiple: true },
    to: { type: 'string' },
    amount: { type: 'string' },
  },
});
if (!values.genesis || !values.relay) {
  console.error('usage: MEMECOIN_PHRASE="…" node pay.mjs --genesis FILE --relay URL [--relay URL] [--to ADDRESS --amount MEME]');
  process.exit(2);
}
const phrase = process.env.MEMECOIN_PHRASE;
if (!phrase) {
  console.error('set MEMECOIN_PHRASE to the recovery phrase of the paying wallet');
  process.exit(2);
}

const provider = await connect({
  genesis: readFileSync(values.genesis, 'utf8'),
  relays: values.relay,
  signer: { phrase },
});
try {
  await provider.waitSynced();
  const fmt = provider.wasm.format_amount;
  const [me] = await provider.request({ method: 'meme_accounts' });
  const before = await provider.request({ method: 'meme_getAccount', params: [me] });
  console.log(`from ${me}: ${fmt(before.balance)} MEME, proven at block ${before.at.height}`);
  if (values.to) {
    const id = await provider.request({
      method: 'meme_sendTransaction',
      params: [{ to: values.to, amount: values.amount ?? '1' }],
    });
    console.log(`sent ${id}`);
    const status = await provider.request({ method: 'meme_waitForTransaction', params: [id] });
    console.log(`finalized in block ${status.height} (${status.block})`);
    for (const address of [me, values.to]) {
      const after = await provider.request({ method: 'meme_getAccount', params: [address] });
      console.log(`${address}: ${fmt(after.balance)} MEME, proven at block ${after.at.height}`);
    }
  }
} finally {
  provider.close();
}
