import { existsSync } from 'node:fs';
import { isSecretName, nameWords } from './secret-names.ts';

/*
 * Redaction: every piece of text that enters the record (events, logs, handoffs, prompts, reports,
 * responses, alerts, webhooks) passes through here first. It removes
 *   - the values of environment variables named like secrets, as the environment is *now* (a token
 *     set after start-up is caught: the variables are read on every call, the matcher is rebuilt
 *     only when their values change), and the passwords inside URL-valued variables;
 *   - credentials inside URLs (`scheme://user:password@host`, any scheme) and secret query parameters;
 *   - well-known credential formats (provider keys, JWTs, PEM private keys, vt's own tokens);
 *   - values assigned to secret-named keys in text (`password: …`, `"api_key": "…"`, `--token …`);
 * and leaves everything else exactly as it was.
 */

export const REDACTED = '[redacted]';

// Token boundaries: a credential is not part of a longer run of token characters (so a base64url
// signature that happens to contain "sk-" is left alone; standard base64 never holds "-" or "_").
const B = '(?<![A-Za-z0-9_-])';
const E = '(?![A-Za-z0-9_-])';

/** Well-known credential formats, replaced whole. */
const SHAPES: readonly RegExp[] = [
  // PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted, PGP); an unterminated one to the end.
  /-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|$)/g,
  // OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-): random, so mixed case and digits.
  new RegExp(
    `${B}sk-(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])[A-Za-z0-9_-]{20,}${E}`,
    'g',
  ),
  // Stripe secret and restricted keys, Standard Webhooks secrets.
  new RegExp(`${B}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}${E}`, 'g'),
  new RegExp(`${B}whsec_[A-Za-z0-9+/]{16,}={0,2}`, 'g'),
  // Google API keys.
  new RegExp(`${B}AIza[0-9A-Za-z_-]{35}${E}`, 'g'),
  // GitHub tokens (classic, OAuth, user-to-server, server-to-server, refresh) and fine-grained PATs.
  new RegExp(`${B}gh[pousr]_[A-Za-z0-9]{20,}${E}`, 'g'),
  new RegExp(`${B}github_pat_[A-Za-z0-9_]{22,}${E}`, 'g'),
  // GitLab, npm, PyPI and Hugging Face tokens.
  new RegExp(`${B}glpat-[A-Za-z0-9_-]{20,}${E}`, 'g'),
  new RegExp(`${B}npm_[A-Za-z0-9]{36}${E}`, 'g'),
  new RegExp(`${B}pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}${E}`, 'g'),
  new RegExp(`${B}hf_(?=[A-Za-z]*[0-9])[A-Za-z0-9]{30,}${E}`, 'g'),
  // AWS access key ids (their secret keys are found next to them, see awsSecrets).
  /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Za-z0-9])/g,
  // Slack tokens and app tokens, and incoming-webhook paths.
  new RegExp(`${B}xox[abposre]-[A-Za-z0-9-]{10,}`, 'g'),
  new RegExp(`${B}xapp-[0-9]-[A-Za-z0-9-]{10,}`, 'g'),
  /(?<=hooks\.slack\.com\/services\/)[A-Za-z0-9/_-]{16,}/g,
  // JSON Web Tokens: base64url header and claims (both JSON objects, so "eyJ"), then the signature.
  new RegExp(`${B}eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]*`, 'g'),
  // vt's own API tokens (vt_) and session tokens (vts_): 32 random bytes, base64url.
  new RegExp(`${B}vts?_(?=[A-Za-z0-9_-]{0,42}[A-Z0-9])[A-Za-z0-9_-]{43}${E}`, 'g'),
];

/** Credentials after an Authorization header or a Bearer scheme. */
const AUTH_HEADER =
  /(\bauthorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|bot|digest)\s+)?)([^\s"',;]{8,})/gi;
const BEARER = /(\bBearer\s+)((?=[A-Za-z._~+/-]*[0-9])[A-Za-z0-9._~+/-]{16,}=*)/g;
/** `scheme://user:password@host`: the password goes, the rest stays readable. */
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>]*:)([^\s/?#"'<>]+)(@)/gi;
/** `?access_token=…&…`: the value of a secret-named query parameter. */
const QUERY_PARAM = /([?&;]([A-Za-z0-9_.-]+)=)([^&\s#"'<>]+)/g;
/** `name = value`, `name: value`, `"name": "value"`, `--name value`, `--name=value`. */
const ASSIGNMENT =
  /((?:(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?::|=>?)[ \t]*|(?<![A-Za-z0-9_-])--([a-z][a-z0-9-]*)(?:=|[ \t]+))(["']?))(?!\[(?:redacted|erased)\])([^\s"'`,;&)}\]]+)/g;
/** An AWS secret access key: 40 characters of base64, standing alone. */
const AWS_SECRET = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Za-z0-9])/g;
const HAS_AWS_KEY_ID = new RegExp(AWS_KEY_ID.source);
/** How far from an access key id its secret key is looked for. */
const AWS_WINDOW = 300;

/** Query parameters that carry signatures though their names say nothing of secrets. */
const SIGNATURE_PARAMS = new Set(['sig', 'signature', 'x-amz-signature', 'x-goog-signature']);

/** Values that are settings, not secrets, whatever the key is called. */
const PLACEHOLDER =
  /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|%[A-Za-z_]+%|\{\{.*\}\}|\[(?:redacted|erased)\]|\*+|x{4,}|\.{3,}|…|true|false|null|none|undefined|required|optional|changeme|example)$/i;

/**
 * A value after a secret-named key that looks like a secret and not like a word of prose: it holds
 * a digit or a sign other than punctuation, or it is long ("password: unchanged." stays).
 */
function looksSecret(value: string): boolean {
  const core = value.replace(/[^A-Za-z0-9]+$/, '');
  if (core.length < 8 || PLACEHOLDER.test(core)) return false;
  return /[0-9]/.test(core) || /[^A-Za-z.,;:!?()'"-]/.test(core) || core.length >= 16;
}

/** Env values not worth treating as secrets: too short to be one, or a flag. */
function worthRedacting(v: string): boolean {
  if (v.length < 6 || PLACEHOLDER.test(v)) return false;
  return !isFileReference(v);
}

const fileRefs = new Map<string, boolean>();
/** A variable named like a key may hold the key's path (VT_SIGNING_KEY=~/.ssh/id_ed25519): a path is no secret. */
function isFileReference(v: string): boolean {
  if (!/^(?:\/|~\/|\.\.?\/)\S+$/.test(v)) return false;
  let r = fileRefs.get(v);
  if (r === undefined) {
    r = existsSync(v.startsWith('~/') ? `${process.env.HOME ?? ''}${v.slice(1)}` : v);
    if (fileRefs.size > 1000) fileRefs.clear();
    fileRefs.set(v, r);
  }
  return r;
}

const URL_WORDS = new Set([
  'url',
  'uri',
  'dsn',
  'database',
  'db',
  'proxy',
  'conn',
  'connection',
  'addr',
  'address',
  'endpoint',
  'host',
  'server',
  'remote',
  'registry',
  'broker',
  'uplink',
]);
const urlNames = new Map<string, boolean>();
/** Variables whose names say they may hold a URL (DATABASE_URL, HTTPS_PROXY, SENTRY_DSN): only these are read for passwords. */
function mayHoldUrl(name: string): boolean {
  let r = urlNames.get(name);
  if (r === undefined) {
    r = nameWords(name).some((w) => URL_WORDS.has(w));
    if (urlNames.size > 10_000) urlNames.clear();
    urlNames.set(name, r);
  }
  return r;
}

/** The password inside a URL-valued variable (DATABASE_URL=postgres://vt:PASSWORD@db/vt). */
function urlPassword(v: string): string[] {
  if (!v.includes('://') || !v.includes('@')) return [];
  try {
    const u = new URL(v);
    if (!u.password) return [];
    const raw = u.password;
    const decoded = decodeURIComponent(raw);
    return [...new Set([raw, decoded])].filter((p) => p.length >= 6);
  } catch {
    return [];
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Each value and the forms it takes inside JSON and URLs. */
function variants(v: string): string[] {
  const out = new Set([v]);
  const json = JSON.stringify(v).slice(1, -1);
  out.add(json);
  try {
    out.add(encodeURIComponent(v));
  } catch {
    // a lone surrogate cannot be encoded; the raw value is still matched
  }
  return [...out].filter((x) => x.length >= 6 && !REDACTED.includes(x));
}

let compiled: { key: string; re: RegExp | null } = { key: '', re: null };

/**
 * The secret values in `env` now. Reading the variables costs tens of microseconds; the regular
 * expression over their values is rebuilt only when they change.
 */
function envMatcher(env: NodeJS.ProcessEnv): RegExp | null {
  const values: string[] = [];
  for (const k of Object.keys(env)) {
    const secret = isSecretName(k);
    if (!secret && !mayHoldUrl(k)) continue;
    const v = env[k];
    if (!v) continue;
    if (secret && worthRedacting(v)) values.push(v);
    for (const p of urlPassword(v)) values.push(p);
  }
  const key = values.join('\u0000');
  if (key !== compiled.key) {
    const all = [...new Set(values.flatMap(variants))].sort((a, b) => b.length - a.length);
    compiled = { key, re: all.length ? new RegExp(all.map(escapeRe).join('|'), 'g') : null };
  }
  return compiled.re;
}

/** A function that redacts text against the environment as it is at this moment. */
export type Redactor = (text: string) => string;

/** Take the environment once, then redact many strings with it (a table, a payload, a response). */
export function redactor(env: NodeJS.ProcessEnv = process.env): Redactor {
  const values = envMatcher(env);
  return (text) => redactWith(text, values);
}

/** Replace secrets in text: see the top of this file for what counts as one. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return redactWith(text, envMatcher(env));
}

function redactWith(text: string, values: RegExp | null): string {
  if (text.length < 6) return text;
  let out = text;
  if (values) out = out.replace(values, REDACTED);
  if (HAS_AWS_KEY_ID.test(out)) out = awsSecrets(out);
  for (const re of SHAPES) out = out.replace(re, REDACTED);
  out = out.replace(URL_USERINFO, `$1${REDACTED}$3`);
  out = out.replace(AUTH_HEADER, (m, head: string, cred: string) =>
    cred === REDACTED || PLACEHOLDER.test(cred) ? m : head + REDACTED,
  );
  out = out.replace(BEARER, `$1${REDACTED}`);
  out = out.replace(QUERY_PARAM, (m, head: string, name: string, value: string) =>
    (isSecretName(name) || SIGNATURE_PARAMS.has(name.toLowerCase())) &&
    value.length >= 6 &&
    !PLACEHOLDER.test(value)
      ? head + REDACTED
      : m,
  );
  return assignments(out);
}

/**
 * Values assigned to secret-named keys. Matches are tried at every start, not only after the last
 * one, so a key that is not a secret cannot swallow the one after it (`db:password: …`).
 */
function assignments(text: string): string {
  const re = new RegExp(ASSIGNMENT.source, 'g');
  let out = '';
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const [, head, name, flag, , whole] = m as unknown as string[];
    if (!isSecretName(name ?? flag ?? '')) {
      re.lastIndex = m.index + 1;
      continue;
    }
    // A value runs to the next space; another secret assignment glued to it starts a match of its own.
    const valueAt = m.index + head!.length;
    const value = whole!.slice(0, innerAssignment(whole!));
    if (looksSecret(value)) {
      out += text.slice(last, valueAt) + REDACTED;
      last = valueAt + value.length;
    }
    re.lastIndex = value.length < whole!.length ? valueAt + value.length : m.index + 1;
  }
  return last === 0 ? text : out + text.slice(last);
}

const KEY_START = /(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*(?::|=)/g;
/** Where a secret-named key starts inside a value (`unchanged.(password:`), or the value's length. */
function innerAssignment(value: string): number {
  KEY_START.lastIndex = 0;
  for (let k = KEY_START.exec(value); k; k = KEY_START.exec(value))
    if (k.index > 0 && isSecretName(k[1]!)) return k.index;
  return value.length;
}

/** AWS secret access keys within a few hundred characters of an access key id. */
function awsSecrets(text: string): string {
  const near: [number, number][] = [];
  for (const m of text.matchAll(AWS_KEY_ID))
    near.push([m.index - AWS_WINDOW, m.index + m[0].length + AWS_WINDOW]);
  return text.replace(AWS_SECRET, (m, at: number) =>
    near.some(([a, b]) => at >= a && at <= b) && /[0-9]/.test(m) && /[A-Z]/.test(m) && /[a-z]/.test(m)
      ? REDACTED
      : m,
  );
}

/**
 * Every string inside a JSON-like value, redacted (object keys are kept). Returns the same object
 * when nothing changed, so callers can tell cheaply.
 */
export function redactDeep<T>(value: T, using: Redactor = redactor()): T {
  return deep(value, using) as T;
}

function deep(v: unknown, r: Redactor): unknown {
  if (typeof v === 'string') return r(v);
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = deep(x, r);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? out : v;
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    let out: Record<string, unknown> | null = null;
    for (const [k, x] of Object.entries(v)) {
      const y = deep(x, r);
      if (y !== x) {
        out ??= { ...(v as Record<string, unknown>) };
        out[k] = y;
      }
    }
    return out ?? v;
  }
  return v;
}

const PEM_BEGIN = /-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?![\s\S]*-----END[ A-Z0-9]*PRIVATE KEY)/;
const PEM_END = /-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----/;

/**
 * Redaction for text that arrives in pieces (a process's output, a transcript): a private key whose
 * lines come in several pieces is dropped from its BEGIN line to its END line. Each piece should
 * end at a line break; a secret cut in two by a piece boundary is not recognised.
 */
export function streamRedactor(env: NodeJS.ProcessEnv = process.env): (piece: string) => string {
  let inKey = false;
  return (piece) => {
    let text = piece;
    if (inKey) {
      const end = PEM_END.exec(text);
      if (!end) return '';
      text = text.slice(end.index + end[0].length);
      inKey = false;
    }
    if (PEM_BEGIN.test(text)) inKey = true;
    return redact(text, env);
  };
}

/** Strip terminal control sequences and other control characters (keeping newlines and tabs). */
export function stripControl(text: string): string {
  return text.replace(
    /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*(\u0007|\u001b\\)|[\u0000-\u0008\u000b-\u001f\u007f]/g,
    '',
  );
}
