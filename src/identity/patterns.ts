/**
 * OpenSSH's pattern lists (match.c): comma-separated patterns with `*` and `?` wildcards, each
 * optionally negated with `!`. Principals and namespaces in allowed_signers are such lists.
 */

/** Whether `s` matches the single pattern `p` (`*` any run, `?` any one character). */
export function matchPattern(s: string, p: string): boolean {
  // Iterative wildcard match with backtracking to the last `*`: linear-ish, no regex built from input.
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** 1 when a positive pattern matches, -1 when a negated one does (which wins), 0 otherwise. */
export function matchPatternList(s: string, list: string): 1 | 0 | -1 {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (matchPattern(s, pattern)) {
      if (negated) return -1;
      positive = true;
    }
  }
  return positive ? 1 : 0;
}
