// What the verifying client reports (wasm `Client`, its `on_event` callback): relays, verified
// heads and finality, accounts, and everything it refused or found conflicting.

import { raiseAlarm, refreshAccount, renderAccount, setAccount } from './account.js';
import { shortHash } from './format.js';
import { refreshHistory, syncListedHistory } from './history.js';
import { isRefusal } from './relays.js';
import { app } from './state.js';
import { addBlock, renderBlocks, renderNet, warn } from './ui.js';

export function onEvent(e) {
  switch (e.type) {
    case 'relay':
      app.relays.set(e.url, { state: e.state, retry_ms: e.retry_ms, reason: e.reason });
      if (e.state === 'open' && !app.openSince) app.openSince = Date.now();
      if (isRefusal(e.reason)) warn(`relay:${e.url}`, 'A relay refused this wallet', `${e.url}: ${e.reason}`);
      renderNet();
      break;
    case 'head':
      // A block reported late (the first of an epoch, verified once finality crossed into
      // it) goes into the list; the newest stays the head.
      if (!app.head || Number(e.anchor.height) > Number(app.head.height)) app.head = e.anchor;
      addBlock(e.anchor, e.proposer);
      renderNet();
      break;
    case 'finalized':
      app.finalized = e.anchor;
      renderNet();
      renderBlocks();
      if (app.alarm) break; // nothing this client verifies is used after conflicting finality
      refreshAccount();
      refreshHistory();
      break;
    case 'account':
      if (e.account.address === app.address) {
        setAccount(e.account);
        syncListedHistory();
      }
      break;
    case 'rejected':
      warn(`rejected:${e.relay}:${e.what}`,
        `A relay sent data that failed verification (${e.what})`,
        `${e.relay}: ${e.reason}. It is not shown as fact.`);
      if (/account|balance/i.test(e.what)) {
        app.accountProblem = e.reason;
        renderAccount();
      } else if (!app.account && /finality|header|head/.test(e.what)) {
        // Nothing proved yet, and the proof of finality itself was forged: say so on the badge.
        app.accountProblem = `finality could not be verified (${e.reason})`;
        renderAccount();
      }
      break;
    case 'checkpoint': {
      const n = e.sources.length;
      warn('checkpoint', 'Started again from a recent checkpoint',
        `This wallet's saved position (or the chain's genesis) is older than the chain's weak-subjectivity bound: the validators it trusted may have withdrawn their stake and could sign a false history at no cost. It started again from block ${e.anchor.height} (${shortHash(e.anchor.hash)}), on which ${n} source${n > 1 ? 's' : ''} agreed: ${e.sources.join(', ')}.${n < 2 ? ' Only one source answered, so it could not be confirmed independently: add relays (?relay=…) to check it.' : ''}`);
      break;
    }
    case 'alarm':
      raiseAlarm(`${e.detail} — ${e.evidence} piece(s) of slashing evidence sent to the relays`);
      break;
    case 'disagreement':
      warn(`disagree:${e.what}`, `Relays disagree (${e.what})`, `${e.detail} — ${e.relays.join(', ')}`);
      break;
    default:
      break;
  }
}
