// Path cleaning as Go's path.Clean("/" + p)[1:] (spec §3.1), on byte strings.

export function cleanPath(p: string): string {
  if (isClean(p)) return p; // the common case, without allocating
  const parts: Array<string> = [];
  const n = p.length;
  let i = 0;
  while (i <= n) {
    let j = i;
    while (j < n && p.charCodeAt(j) != 0x2f) j++;
    const part = p.substring(i, j);
    if (part == "..") {
      if (parts.length > 0) parts.pop();
    } else if (part.length > 0 && part != ".") {
      parts.push(part);
    }
    i = j + 1;
  }
  return parts.join("/");
}

/** True when cleaning would not change p: no empty, "." or ".." components, no outer slashes. */
function isClean(p: string): bool {
  const n = p.length;
  let start = 0; // start of the current component
  for (let i = 0; i <= n; i++) {
    if (i < n && p.charCodeAt(i) != 0x2f) continue;
    const length = i - start;
    if (length == 0) return false;
    if (p.charCodeAt(start) == 0x2e && (length == 1 || (length == 2 && p.charCodeAt(start + 1) == 0x2e))) return false;
    start = i + 1;
  }
  return true;
}

/** Go path.Split: dir keeps its trailing slash; the name is not cleaned. */
export function splitRaw(p: string): Array<string> {
  const slash = p.lastIndexOf("/");
  return [p.substring(0, slash + 1), p.substring(slash + 1)];
}

/** Go path.Join(dir, name): joins with "/" and cleans; empty when both are empty. */
export function joinPath(dir: string, name: string): string {
  if (dir.length == 0 && name.length == 0) return "";
  const joined = dir.length == 0 ? name : (name.length == 0 ? dir : dir + "/" + name);
  const rooted = joined.length > 0 && joined.charCodeAt(0) == 0x2f;
  const clean = cleanPath(joined);
  if (rooted) return "/" + clean;
  return clean.length == 0 ? "." : clean;
}
