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

/// The network line, in words a new user reads without a glossary: "Online · block 40", or
/// "Offline · reconnecting in 3 s…". Which relays, and what is final, are in its tooltip
/// (`netDetail`) and on the badge. `relays` is a Map of url → { state, retry_ms, reason }.
export function netText(relays, head) {
  const all = [...relays.values()];
  const open = all.filter((r) => r.state === 'open').length;
  if (open > 0) return { text: head ? `Online · block ${head.height}` : 'Online', ok: true };
  const retry = all.map((r) => r.retry_ms).filter((x) => x !== undefined && x !== null);
  const again = all.some((r) => r.state === 'reconnecting');
  if (!retry.length) return { text: again ? 'Offline · reconnecting…' : 'Connecting…', ok: false };
  const s = Math.ceil(Math.min(...retry) / 1000);
  return { text: `Offline · ${again ? 'reconnecting' : 'connecting'} in ${s} s…`, ok: false };
}

/// The network line's tooltip: each relay and its state, the newest verified and the newest
/// finalized block.
export function netDetail(relays, head, finalized) {
  const lines = [...relays].map(([u, r]) => `${u}: ${r.state}${r.reason ? ` (${r.reason})` : ''}`);
  if (head) lines.push(`newest verified block: ${head.height}`);
  if (finalized) lines.push(`newest finalized block: ${finalized.height}`);
  return lines.join('\n');
}

/// Relays that are down with a reason ("closed by the relay: wrong chain: …"): shown on the page.
export function downRelays(relays) {
  return [...relays.entries()].filter(([, r]) => r.state !== 'open' && r.reason);
}
