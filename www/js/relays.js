// Which relays the wallet uses and how their state reads. Pure; ui.js renders it.

/// Relays to use: `?relay=ws://…` (repeatable), else a bundle's pinned relays and checkpoint
/// sources, else the relay that served this page (`location` is the page's).
export function relayUrls(search, bundle, location) {
  const asked = new URLSearchParams(search).getAll('relay').filter((u) => /^wss?:\/\//.test(u));
  if (asked.length) return asked;
  if (bundle && bundle.relays.length) return [...new Set([...bundle.relays, ...bundle.sources])];
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return [`${scheme}://${location.host}/ws`];
}

/// A reason for a closed connection that is the relay refusing this wallet (another chain, an
/// old protocol, a close frame), not the network: the page shows it as a warning.
export function isRefusal(reason) {
  return Boolean(reason) && /^closed by the relay|another chain|protocol version/.test(reason);
}

/// The network line: "connected to 2 relays · head 40 · final 38", or how soon it reconnects.
/// `relays` is a Map of url → { state, retry_ms, reason }.
export function netText(relays, head, finalized) {
  const all = [...relays.values()];
  const open = all.filter((r) => r.state === 'open').length;
  let text;
  if (open > 0) {
    text = `connected to ${open} relay${open > 1 ? 's' : ''}`;
  } else {
    const retry = all.map((r) => r.retry_ms).filter((x) => x !== undefined && x !== null);
    const state = all.some((r) => r.state === 'reconnecting') ? 'reconnecting' : 'connecting';
    text = retry.length ? `${state} in ${Math.ceil(Math.min(...retry) / 1000)} s…` : `${state}…`;
  }
  if (head) text += ` · head ${head.height}`;
  if (finalized) text += ` · final ${finalized.height}`;
  return { text, ok: open > 0 };
}

/// Relays that are down with a reason ("closed by the relay: wrong chain: …"): shown on the page.
export function downRelays(relays) {
  return [...relays.entries()].filter(([, r]) => r.state !== 'open' && r.reason);
}
