// Where to go after signing in, when a guarded page sent the browser here
// (nginx's auth_request example: `/?next=$request_uri`). Only a path on this
// origin is accepted, so the parameter cannot send anyone elsewhere (an open
// redirect would lend this site's name to a phishing link).

/**
 * The `next` path of `search`, or null when there is none or it is not a
 * plain path on `origin`. `next` is read to the end of the query, as nginx
 * writes `$request_uri` unencoded (its own `?` and `&` included).
 */
export function returnPath(search: string, origin: string): string | null {
  const m = /(?:^\?|&)next=(.*)$/s.exec(search);
  if (!m) return null;
  let value = m[1];
  if (/^%2f/i.test(value)) {
    try {
      value = decodeURIComponent(value);
    } catch {
      return null;
    }
  }
  // One leading slash, then no second one or a backslash (which browsers
  // read as a slash): "//evil.example" and "/\evil.example" leave the origin.
  if (!value.startsWith("/") || value.startsWith("//") || value.includes("\\")) return null;
  // No control characters or whitespace.
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x21 || code === 0x7f) return null;
  }
  let url: URL;
  try {
    url = new URL(value, origin);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  return `${url.pathname}${url.search}${url.hash}`;
}
