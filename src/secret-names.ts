/**
 * Which names stand for secrets: environment variables (`GITHUB_TOKEN`, `PGPASSWORD`), assignments
 * in text (`password: …`, `"api_key": "…"`, `--token …`) and URL query parameters (`?access_token=`).
 * A name is split into words (on `_ - .`, spaces and camelCase) and judged by its words, so
 * `GIT_AUTHOR_NAME`, `OAUTH_CALLBACK_URL`, `TOKENIZERS_PARALLELISM` and `tokens_in` are not secrets
 * while `AUTH_TOKEN`, `DB_PASS` and `npm_config__authToken` are.
 */

/** A word that makes the name a secret wherever it stands. */
const SECRET_WORDS = new Set([
  'token',
  'secret',
  'secrets',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'credential',
  'credentials',
  'creds',
  'apikey',
  'auth',
  'authorization',
  'privatekey',
  'accesskey',
  'secretkey',
  'authtoken',
  'accesstoken',
  'refreshtoken',
  'sessiontoken',
  'clientsecret',
  'cookie',
]);
/** Endings of a run-together word that make it a secret: PGPASSWORD, GHTOKEN, MYAPIKEY. */
const SECRET_ENDINGS = ['password', 'passwd', 'token', 'secret', 'apikey'];
/** A last word that says the value is about a secret, not the secret itself. */
const DESCRIPTORS = new Set([
  'file',
  'files',
  'path',
  'dir',
  'url',
  'uri',
  'endpoint',
  'host',
  'port',
  'user',
  'username',
  'name',
  'id',
  'ids',
  'type',
  'kind',
  'mode',
  'method',
  'header',
  'env',
  'var',
  'len',
  'length',
  'size',
  'count',
  'ttl',
  'expiry',
  'expires',
  'enabled',
  'disabled',
  'required',
  'provider',
  'format',
  'sock',
  'socket',
  'prefix',
  'hint',
  'source',
  'sha256',
  'hash',
  'digest',
  'fingerprint',
  'command',
  'cmd',
  'helper',
  'version',
]);
/** Words before a final `KEY` that make it an identifier, not a secret (SORT_KEY, VT_IDEMPOTENCY_KEY). */
const PLAIN_KEYS = new Set([
  'public',
  'pub',
  'idempotency',
  'cache',
  'sort',
  'partition',
  'primary',
  'foreign',
  'routing',
  'object',
  'lookup',
  'dedup',
  'dedupe',
  'group',
  'message',
  'row',
  'map',
  'hash',
  'index',
  'join',
  'shard',
  'storage',
  'bucket',
  'metric',
  'label',
]);
/** Whole names that are never secrets though a word says otherwise (the working directories). */
const NOT_SECRET = new Set(['pwd', 'oldpwd']);

/** The words of a name, lower case: `npm_config__authToken` → npm, config, auth, token. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

const memo = new Map<string, boolean>();

/** True when a variable, field or parameter of this name holds a secret. */
export function isSecretName(name: string): boolean {
  let v = memo.get(name);
  if (v === undefined) {
    v = judge(name);
    if (memo.size > 10_000) memo.clear();
    memo.set(name, v);
  }
  return v;
}

function judge(name: string): boolean {
  const words = nameWords(name);
  if (!words.length || NOT_SECRET.has(words.join(''))) return false;
  const last = words[words.length - 1]!;
  if (DESCRIPTORS.has(last)) return false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (SECRET_WORDS.has(w)) return true;
    if (w.length > 5 && SECRET_ENDINGS.some((e) => w.endsWith(e))) return true;
  }
  // OPENAI_KEY, STRIPE_KEY: a final KEY after a word; a bare `key` is a name (a signature's key
  // fingerprint, a map's key), never a secret by itself.
  if (last === 'key' || last === 'keys') {
    const before = words[words.length - 2];
    return before !== undefined && !PLAIN_KEYS.has(before);
  }
  return false;
}
