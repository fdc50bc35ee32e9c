import { VtError } from '../errors.ts';
import { formatPublicKey, parsePublicKeyLine, type SshPublicKey } from './public-key.ts';
import { formatSshTime, parseSshTime } from './ssh-time.ts';

/**
 * OpenSSH allowed_signers files (ssh-keygen(1), ALLOWED SIGNERS), the file git's
 * `gpg.ssh.allowedSignersFile` and `ssh-keygen -Y verify -f` read:
 *
 *   principals [options] keytype base64-key [comment]
 *
 * principals is a comma-separated pattern list (`*`, `?`, `!`), quoted when it holds spaces;
 * options are `namespaces="…"`, `valid-after="…"`, `valid-before="…"` (YYYYMMDD[HHMM[SS]][Z]) and
 * `cert-authority`. vt parses the whole file and refuses it, naming file:line, on the first bad
 * line — including `cert-authority` lines, since vt checks people's own keys, not SSH certificates.
 */

export interface AllowedSigner {
  /** The principals pattern list as written, quotes removed. */
  principals: string;
  key: SshPublicKey;
  /** The namespaces pattern list, or null for any namespace. */
  namespaces: string | null;
  /** Epoch ms; the key is not valid before it. */
  validAfter: number | null;
  /** Epoch ms; the key is not valid after it (the whole second counts, as ssh-keygen compares seconds). */
  validBefore: number | null;
  file: string;
  line: number;
}

const SPACE = ' \t\r\n';
/** Tokens OpenSSH reads as a key type (ours, and the ones we refuse by name), never as options. */
const KEY_TYPE_LIKE =
  /^(ssh-[a-z0-9@.-]+|ecdsa-sha2-[a-z0-9@.-]+|sk-[a-z0-9@.-]+|[a-z0-9@.-]+-cert-v0\d@openssh\.com)$/i;

class LineError extends Error {}

/** OpenSSH's strdelimw: the first token, where one double-quoted run may hold spaces (and commas). */
function firstToken(s: string): { token: string; rest: string } {
  let i = 0;
  while (i < s.length && !SPACE.includes(s[i]!) && s[i] !== '"') i++;
  if (i === s.length) throw new LineError('invalid line: a principal but no key');
  if (s[i] === '"') {
    const unquoted = s.slice(0, i) + s.slice(i + 1);
    const close = unquoted.indexOf('"', i);
    if (close < 0) throw new LineError('invalid line: a quote that is never closed');
    return { token: unquoted.slice(0, close), rest: skipSpace(unquoted.slice(close + 1)) };
  }
  return { token: s.slice(0, i), rest: skipSpace(s.slice(i + 1)) };
}

function skipSpace(s: string): string {
  let i = 0;
  while (i < s.length && SPACE.includes(s[i]!)) i++;
  return s.slice(i);
}

/** OpenSSH's opt_dequote: a double-quoted value where \" stands for a quote. */
function dequote(s: string, at: number): { value: string; next: number } {
  if (s[at] !== '"') throw new LineError('bad options: missing start quote');
  let out = '';
  let i = at + 1;
  while (i < s.length && s[i] !== '"') {
    if (s[i] === '\\' && s[i + 1] === '"') i++;
    out += s[i++];
  }
  if (i >= s.length) throw new LineError('bad options: missing end quote');
  return { value: out, next: i + 1 };
}

interface Options {
  ca: boolean;
  namespaces: string | null;
  validAfter: number | null;
  validBefore: number | null;
}

/** OpenSSH's sshsigopt_parse. */
function parseOptions(opts: string): Options {
  const o: Options = { ca: false, namespaces: null, validAfter: null, validBefore: null };
  let pos = 0;
  const starts = (word: string) => opts.slice(pos, pos + word.length).toLowerCase() === word;
  while (pos < opts.length) {
    if (starts('cert-authority')) {
      o.ca = true;
      pos += 'cert-authority'.length;
    } else if (starts('namespaces=')) {
      if (o.namespaces !== null) throw new LineError('bad options: multiple "namespaces" clauses');
      const v = dequote(opts, pos + 'namespaces='.length);
      o.namespaces = v.value;
      pos = v.next;
    } else
      for (const [word, field] of [
        ['valid-after=', 'validAfter'],
        ['valid-before=', 'validBefore'],
      ] as const) {
        if (!starts(word)) continue;
        const name = word.slice(0, -1);
        if (o[field] !== null) throw new LineError(`bad options: multiple "${name}" clauses`);
        const v = dequote(opts, pos + word.length);
        const t = parseSshTime(v.value);
        if (t === null || t <= 0)
          throw new LineError(`bad options: invalid "${name}" time "${v.value}" (YYYYMMDD[HHMM[SS]][Z])`);
        o[field] = t;
        pos = v.next;
        break;
      }
    if (pos >= opts.length) break;
    if (opts[pos] !== ',') throw new LineError(`bad options: unknown key option at "${opts.slice(pos)}"`);
    pos++;
    if (pos >= opts.length) throw new LineError('bad options: unexpected end-of-options');
  }
  if (o.validAfter !== null && o.validBefore !== null && o.validBefore <= o.validAfter)
    throw new LineError('bad options: "valid-before" time is before "valid-after"');
  return o;
}

/** OpenSSH's sshkey_advance_past_options: options end at the first whitespace outside quotes. */
function splitOptions(s: string): { opts: string; rest: string } {
  let quoted = false;
  let i = 0;
  for (; i < s.length && (quoted || (s[i] !== ' ' && s[i] !== '\t')); i++) {
    if (s[i] === '\\' && s[i + 1] === '"') i++;
    else if (s[i] === '"') quoted = !quoted;
  }
  if (quoted) throw new LineError('invalid options: a quote that is never closed');
  if (i >= s.length) throw new LineError('missing key');
  return { opts: s.slice(0, i), rest: skipSpace(s.slice(i)) };
}

function parseLine(text: string, file: string, line: number): AllowedSigner | null {
  const s = skipSpace(text);
  if (s === '' || s.startsWith('#')) return null;
  const { token: principals, rest } = firstToken(s);
  if (principals === '') throw new LineError('invalid line: empty principals');
  const body = rest.replace(/[\r\n]+$/, '');
  const head = body.split(/[ \t]/, 1)[0] ?? '';
  let options: Options = { ca: false, namespaces: null, validAfter: null, validBefore: null };
  let keyText = body;
  if (!KEY_TYPE_LIKE.test(head)) {
    const split = splitOptions(body);
    options = parseOptions(split.opts);
    keyText = split.rest;
  }
  if (!keyText) throw new LineError('missing key');
  if (options.ca)
    throw new LineError(
      'cert-authority names an SSH certificate authority; vt verifies people’s own keys, not certificates: list each person’s key instead',
    );
  let key: SshPublicKey;
  try {
    key = parsePublicKeyLine(keyText);
  } catch (err) {
    throw new LineError(`invalid key: ${(err as Error).message}`);
  }
  return {
    principals,
    key,
    namespaces: options.namespaces,
    validAfter: options.validAfter,
    // ssh-keygen compares whole seconds: a signature in the valid-before second itself is still valid.
    validBefore: options.validBefore === null ? null : options.validBefore + 999,
    file,
    line,
  };
}

/** Parse an allowed_signers file's text; BAD_INPUT naming file:line on the first bad line. */
export function parseAllowedSigners(text: string, file = 'allowed_signers'): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  text.split('\n').forEach((raw, i) => {
    try {
      const entry = parseLine(raw, file, i + 1);
      if (entry) out.push(entry);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      throw new VtError('BAD_INPUT', `${file}:${i + 1}: ${err.message}`, {
        hint: 'Each line: principals [namespaces="vt",valid-after="YYYYMMDD"] ssh-ed25519 AAAA… (see ssh-keygen(1))',
      });
    }
  });
  return out;
}

/** One allowed_signers line, as `ssh-keygen -Y verify` reads it. Times are written in UTC. */
export function formatAllowedSigner(s: {
  principals: readonly string[];
  key: SshPublicKey;
  namespaces?: readonly string[];
  validAfter?: number | null;
  validBefore?: number | null;
}): string {
  for (const p of s.principals)
    if (!p || /["',\s]/.test(p) || p.startsWith('#'))
      throw new VtError('BAD_INPUT', `"${p}" cannot be written as an allowed_signers principal`);
  const opts: string[] = [];
  if (s.namespaces?.length) opts.push(`namespaces="${s.namespaces.join(',')}"`);
  if (s.validAfter != null) opts.push(`valid-after="${formatSshTime(s.validAfter)}"`);
  if (s.validBefore != null) opts.push(`valid-before="${formatSshTime(s.validBefore)}"`);
  return `${s.principals.join(',')}${opts.length ? ` ${opts.join(',')}` : ''} ${formatPublicKey(s.key, '')}`;
}
