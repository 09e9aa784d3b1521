// The verifying client's life: connect (from the chain spec, or from the saved checkpoint once
// the vault's key proves it), keep the checkpoint sealed as finality moves. The client runs in
// a Web Worker (js/remote.js, js/worker.js).

import { raiseAlarm } from './account.js';
import { macKey, seal, specDigest, unseal } from './checkpoint.js';
import { onEvent } from './events.js';
import { shortHash } from './format.js';
import { relayUrls } from './relays.js';
import { RemoteClient } from './remote.js';
import { BUNDLE, alarmKey, app, store } from './state.js';
import { renderNet, setText, warn } from './ui.js';

/// Starts the client if it is not running. With the phrase (at unlock), the saved checkpoint is
/// used if its MAC verifies; without (no wallet yet), the client starts from the chain spec.
/// Either way the key for sealing later checkpoints is derived once the phrase is known, and
/// each new finality saves the position sealed.
export async function connect(phrase) {
  // One client, started once; calls run one after another, so that one with the phrase after
  // one without still derives the key that seals checkpoints.
  const run = queue.then(() => start(phrase));
  queue = run.catch(() => {});
  return run;
}

let queue = Promise.resolve();

async function start(phrase) {
  if (!app.specDigest) app.specDigest = await specDigest(app.genesisJson);
  app.checkpointKey = `memecoin.checkpoint.${app.specDigest}`;
  if (phrase && !app.checkpointMac) app.checkpointMac = await macKey(phrase, app.specDigest);
  if (app.client) return;
  const urls = relayUrls(location.search, BUNDLE, location);
  for (const u of urls) app.relays.set(u, { state: 'connecting' });
  const checkpoint = phrase ? await savedCheckpoint() : null;
  // Served by a relay, the worker is this folder's worker.js; a static bundle pins its bytes.
  const load = BUNDLE
    ? { worker: BUNDLE.worker, glue: BUNDLE.glue }
    : { url: new URL('./worker.js', import.meta.url) };
  const client = await RemoteClient.start(load, app.wasmModule, app.genesisJson, checkpoint, urls, handle);
  if (checkpoint && !client.resumed) store.removeItem(app.checkpointKey);
  app.client = client;
  app.chainId = client.chain_id();
  app.params = client.params();
  const alarm = store.getItem(alarmKey());
  if (alarm) raiseAlarm(alarm);
  setText('chain', `${app.chainName} · chain ${shortHash(app.chainId)}`);
  renderNet();
}

function handle(e) {
  onEvent(e);
  if (e.type === 'finalized') saveCheckpoint();
}

/// The saved checkpoint if the vault's key sealed it; otherwise it is removed and the user told.
async function savedCheckpoint() {
  const saved = store.getItem(app.checkpointKey);
  if (!saved) return null;
  const checkpoint = await unseal(app.checkpointMac, saved);
  if (checkpoint === null) {
    store.removeItem(app.checkpointKey);
    warn('checkpoint-seal', 'The saved position was not used',
      'The verified position saved in this browser does not carry this wallet\'s seal (it was changed, or saved by an older version of the page). The wallet verified the chain again from its chain spec.');
  }
  return checkpoint;
}

/// Seals and saves the client's verified position (on each new finality). Nothing is saved
/// before the phrase is known, nor after conflicting finality.
export async function saveCheckpoint() {
  if (!app.checkpointMac || app.alarm || !app.client) return;
  try {
    store.setItem(app.checkpointKey, await seal(app.checkpointMac, app.client.checkpoint()));
  } catch {
    // Storage full or unavailable: resuming starts from the chain spec again.
  }
}
