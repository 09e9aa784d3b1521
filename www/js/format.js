// Text for reading: addresses, hashes, durations, grouped numbers. Pure (no DOM, no wasm), so
// Node's test runner checks it (tests/js/wallet/).

/// `1000000.5` → `1,000,000.5`: the whole part of an exact decimal text grouped by thousands.
export function groupThousands(text) {
  const [whole, frac] = text.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${grouped}${frac === undefined ? '' : `.${frac}`}`;
}

/// An address whole, in groups of four after `meme1`, so that it can be read and compared
/// (a poisoner's look-alike matches the first and last few characters only).
export function groupAddress(address) {
  const body = address.slice(5).match(/.{1,4}/g) || [];
  return `meme1 ${body.join(' ')}`;
}

export function shortHash(h) {
  return h ? `${h.slice(0, 8)}…` : '';
}

/// A rough duration for reading: "40 s", "12 min", "5 h", "3 days".
export function duration(seconds) {
  if (seconds < 120) return `${Math.ceil(seconds)} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

export function errorMessage(e) {
  return (e && e.message) || String(e);
}
