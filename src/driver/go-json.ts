// JSON as Go's encoding/json.Marshal (Go 1.11–1.21, what moby 19.03/20.10 were built
// with) writes it: compact; <, >, & and U+2028/U+2029 escaped; control characters other
// than \n \r \t as \u00XX. layerchain.json must be byte-identical to the reference's,
// so that a data root can move between the two implementations.

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\x00-\x1f<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function goString(text: string): string {
  const body = text.replace(NEEDS_ESCAPE, (c) => {
    if (SHORT_ESCAPES[c]) return SHORT_ESCAPES[c];
    // A lone surrogate is invalid UTF-8 on Go's side: it writes U+FFFD.
    if (c.length === 1 && c >= '\ud800' && c <= '\udfff') return '\ufffd';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return `"${body}"`;
}

/** Go's Marshal of strings, numbers, booleans, null, arrays and plain objects (keys sorted, as Go sorts map keys). */
export function goJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${goString(key)}:${goJson(item)}`).join(',')}}`;
}
