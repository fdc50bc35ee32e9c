import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { REDACTED, redact, redactDeep, redactor, streamRedactor } from '../src/redact.ts';
import { isSecretName } from '../src/secret-names.ts';

/** A base environment with the variables a real shell has, none of them secret. */
const BASE_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/home/ana',
  PWD: '/home/ana/projects/churn',
  GIT_AUTHOR_NAME: 'Value Train',
  GIT_AUTHOR_EMAIL: 'train@example.com',
  AUTHOR: 'Ana Lima',
  OAUTH_CALLBACK_URL: 'https://app.example.com/oauth/callback',
  SSH_AUTH_SOCK: '/tmp/ssh-XXXX/agent.123',
  TOKENIZERS_PARALLELISM: 'false',
  VT_IDEMPOTENCY_KEY: 'ci-run-42:tick:asked',
  VT_HANDOFF_TOKENS: '8000',
};

// Provider key shapes, built from pieces so this file holds none of them literally.
const KEYS = {
  openai: `sk-${'proj-'}Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z`,
  openaiLegacy: `sk-${'T3BlbkFJ'}a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8`,
  anthropic: `sk-${'ant-api03-'}Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-dC_bA9z8Y7x6W5v4U3t2S1r0Q`,
  google: `AIza${'Sy'}B1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R`,
  github: `gh${'p_'}a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8`,
  githubFine: `github_${'pat_'}11ABCDEFG0a1B2c3D4e5F6_g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6`,
  awsId: `AKIA${'IOSFODNN'}7EXAMPLE`,
  slack: `xox${'b-'}123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx`,
  stripe: `sk_${'live_'}51Hx2aB3cD4eF5gH6iJ7kL8mN`,
  jwt: `eyJhbGciOiJIUzI1NiJ9.${'eyJ'}zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`,
  vtApi: `vt_${'dnQ'}tdGVzdC1hcGktdG9rZW52dC10ZXN0LWFwaS10b2s`,
  vtSession: `vts_${'Zm9'}vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo`,
  huggingface: `hf_${'aB1cD2'}eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2`,
  webhook: `whsec_${'MfKQ9r8G'}KYqrTRQFzN9pLm1wBtj3sd5hUG2`,
};
/** Caught only next to an access key id: alone it is 40 characters like many others. */
const AWS_SECRET = `wJalrXUtnFEMI/K7MDENG/${'bPxRfiCY'}EXAMPLEKEY`;
const PEM_BODY = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW';
const PEM = `-----BEGIN OPENSSH ${'PRIVATE'} KEY-----\n${PEM_BODY}\nQyNTUxOQAAACBlbGxpcHRpYw==\n-----END OPENSSH PRIVATE KEY-----`;

describe('redaction: what counts as a secret', () => {
  it('every provider format is caught wherever it stands', () => {
    for (const [name, key] of Object.entries(KEYS)) {
      for (const around of [
        (k: string) => k,
        (k: string) => `key: ${k}`,
        (k: string) => `export X=${k}\n`,
        (k: string) => `{"value":"${k}"}`,
        (k: string) => `(${k}), then`,
        (k: string) => `'${k}'`,
      ]) {
        const out = redact(around(key), BASE_ENV);
        assert.ok(!out.includes(key), `${name} survives in ${JSON.stringify(out)}`);
        assert.ok(out.includes(REDACTED), name);
      }
    }
  });

  it('an AWS secret key next to its access key id is caught; a lone 40-character string is not', () => {
    const out = redact(
      `aws_access_key_id = ${KEYS.awsId}\naws_region = eu-west-1\nsecret ${AWS_SECRET}`,
      BASE_ENV,
    );
    assert.ok(!out.includes(AWS_SECRET) && !out.includes(KEYS.awsId), out);
    const commit = 'f3b1c9a2d4e5f60718293a4b5c6d7e8f90a1b2c3';
    assert.equal(
      redact(`commit ${commit} and ${AWS_SECRET}`, BASE_ENV),
      `commit ${commit} and ${AWS_SECRET}`,
    );
  });

  it('PEM private keys, whole or cut off, and a key that arrives over several pieces', () => {
    assert.equal(redact(`before\n${PEM}\nafter`, BASE_ENV), `before\n${REDACTED}\nafter`);
    const cut = redact(`log: ${PEM.slice(0, 90)}`, BASE_ENV);
    assert.ok(!cut.includes(PEM_BODY.slice(0, 40)), cut);
    const lines = `start\n${PEM}\nend\n`.split(/(?<=\n)/);
    const r = streamRedactor(BASE_ENV);
    const out = lines.map((l) => r(l)).join('');
    assert.ok(!out.includes(PEM_BODY) && !out.includes('QyNTUxOQ'), out);
    assert.match(out, /^start\n/);
    assert.match(out, /end\n$/);
  });

  it('credentials inside URLs of any scheme lose their password and keep the rest', () => {
    const cases: [string, string][] = [
      ['postgres://vt:s3cr3t-Pw@db.internal:5432/vt', 'postgres://vt:[redacted]@db.internal:5432/vt'],
      ['postgresql://u:p%40ss%2Fw0rd@h/db?sslmode=require', 'postgresql://u:[redacted]@h/db?sslmode=require'],
      ['redis://:hunter22@cache:6379/0', 'redis://:[redacted]@cache:6379/0'],
      [
        'mongodb+srv://ana:Tr0ub4dor@cluster0.mongodb.net/x',
        'mongodb+srv://ana:[redacted]@cluster0.mongodb.net/x',
      ],
      [
        'https://x-access-token:abc123def456@github.com/o/r.git',
        'https://x-access-token:[redacted]@github.com/o/r.git',
      ],
      ['amqp://guest:guest-pw1@rabbit:5672', 'amqp://guest:[redacted]@rabbit:5672'],
      ['see https://example.com:8080/path?q=1 for more', 'see https://example.com:8080/path?q=1 for more'],
      [
        'https://api.example.com/v1?access_token=abcdef123456&page=2',
        'https://api.example.com/v1?access_token=[redacted]&page=2',
      ],
      [
        'https://x.blob.core.windows.net/c/f?sv=2024&sig=AbC123%2Bdef%3D',
        'https://x.blob.core.windows.net/c/f?sv=2024&sig=[redacted]',
      ],
    ];
    for (const [text, want] of cases) assert.equal(redact(text, BASE_ENV), want);
  });

  it('values of secret-named variables, as the environment is at each call', () => {
    const env: NodeJS.ProcessEnv = { ...BASE_ENV };
    const token = 'late-token-value-91c4e2';
    assert.equal(redact(`uses ${token}`, env), `uses ${token}`, 'not a secret before it is set');
    env.DEPLOY_TOKEN = token;
    assert.equal(redact(`uses ${token}`, env), `uses ${REDACTED}`, 'set after the first call');
    env.DEPLOY_TOKEN = 'rotated-token-5f0a77';
    assert.equal(redact(`old ${token}, new rotated-token-5f0a77`, env), `old ${token}, new ${REDACTED}`);
    env.PGPASSWORD = 'pg-pass-42x';
    env.npm_config__authToken = 'npm-auth-88y';
    env.MYSQL_PWD = 'mysql-pwd-77z';
    assert.equal(
      redact('pg-pass-42x npm-auth-88y mysql-pwd-77z', env),
      `${REDACTED} ${REDACTED} ${REDACTED}`,
    );
  });

  it('the process environment too: a variable set in-process after start-up is caught at once', () => {
    const name = `VT_TEST_LATE_SECRET_${process.pid}`;
    const value = `in-process-${Date.now().toString(36)}-x9`;
    assert.equal(redact(`v=${value}`), `v=${value}`);
    process.env[name] = value;
    try {
      assert.equal(redact(`v=${value}`), `v=${REDACTED}`);
      assert.deepEqual(redactDeep({ a: [value], b: 1 }), { a: [REDACTED], b: 1 });
    } finally {
      delete process.env[name];
    }
    assert.equal(redact(`v=${value}`), `v=${value}`, 'and forgotten once unset');
  });

  it('a DATABASE_URL password is caught on its own, also URL-encoded', () => {
    const env = { ...BASE_ENV, DATABASE_URL: 'postgres://app:Pa%24%24w0rd-db@db:5432/app' };
    assert.equal(redact('auth failed for Pa$$w0rd-db', env), `auth failed for ${REDACTED}`);
    assert.equal(redact('dsn had Pa%24%24w0rd-db in it', env), `dsn had ${REDACTED} in it`);
    const proxy = { ...BASE_ENV, HTTPS_PROXY: 'http://me:pr0xy-pass@proxy:3128' };
    assert.equal(redact('pr0xy-pass', proxy), REDACTED);
  });

  it('secret assignments in text are caught; prose and settings are not', () => {
    const caught = [
      'password: hunter22',
      'PASSWORD=correcthorsebatterystaple',
      '{"api_key": "abcd1234efgh"}',
      "client_secret='s3cr3t-v4lue'",
      '--token s3cr3tvalue1',
      '--password=Sup3r$ecret',
      'Authorization: Bearer abc.def123ghi456jkl',
      'curl -H "authorization: token 0123456789abcdef"',
      'Authorization: Basic dXNlcjpwYXNzd29yZA==',
    ];
    for (const t of caught) assert.match(redact(t, BASE_ENV), /\[redacted\]/, t);
    const kept = [
      'GIT_AUTHOR_NAME=Value Train',
      'AUTHOR: Ana Lima',
      'OAUTH_CALLBACK_URL=https://app.example.com/oauth/callback',
      'password: unchanged.',
      'the token: expires tomorrow',
      'tokens_in: 12345678',
      'max_tokens=4096',
      'auth: required',
      'password: ${DB_PASSWORD}',
      'api_key: <your key here>',
      'a basic understanding of the sk-learn compatible estimators',
      'scikit-learn 1.5 and TOKENIZERS_PARALLELISM=false',
      'key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
      'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'vt_app is the role; vt_session_started happened',
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ana@laptop',
      'Bearer of bad news',
    ];
    for (const t of kept) assert.equal(redact(t, BASE_ENV), t);
  });

  it('names: secret words, not words that merely contain them', () => {
    for (const n of [
      'GITHUB_TOKEN',
      'AWS_SECRET_ACCESS_KEY',
      'PGPASSWORD',
      'OPENAI_API_KEY',
      'DB_PASS',
      'MYSQL_PWD',
      'npm_config__authToken',
      'BASIC_AUTH',
      'STRIPE_KEY',
      'client_secret',
      'HTTP_AUTHORIZATION',
    ])
      assert.equal(isSecretName(n), true, n);
    for (const n of [
      'GIT_AUTHOR_NAME',
      'AUTHOR',
      'OAUTH_CALLBACK_URL',
      'SSH_AUTH_SOCK',
      'PWD',
      'OLDPWD',
      'TOKENIZERS_PARALLELISM',
      'tokens_in',
      'AWS_ACCESS_KEY_ID',
      'VT_IDEMPOTENCY_KEY',
      'key',
      'PUBLIC_KEY',
      'GITHUB_TOKEN_FILE',
      'token_sha256',
      'SORT_KEY',
    ])
      assert.equal(isSecretName(n), false, n);
  });

  it('redacting twice changes nothing more; a value that names the marker does not loop', () => {
    const env = { ...BASE_ENV, WEIRD_SECRET: 'redacted' };
    const text = `password: hunter22 and ${KEYS.openai} and postgres://u:pw123456@h/db and [redacted]`;
    const once = redact(text, env);
    assert.equal(redact(once, env), once);
  });
});

describe('redaction: property', () => {
  // Safe text: words, identifiers, hashes, paths and URLs that look technical but hold no secret.
  const SAFE = [
    'the',
    'model',
    'churn',
    'AUC',
    '0.87',
    'validated',
    'sk-learn',
    'scikit-learn',
    'GIT_AUTHOR_NAME=Value Train',
    'AUTHOR: Ana',
    'OAUTH_CALLBACK_URL=https://app.example.com/cb',
    'tokens_in: 1234',
    // Prose after a secret-named key ends with a space: glued to the next word it would read as a value.
    'password: unchanged. ',
    'https://mlflow.internal:5000/#/experiments/3/runs/abc123',
    'postgres://db.internal:5432/vt',
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    'f3b1c9a2d4e5f60718293a4b5c6d7e8f90a1b2c3',
    'reports/report.json',
    '/home/ana/projects/churn',
    'vt_app',
    'key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
    'a basic idea',
    'churn-model-v2',
    'alpha-1-training.s1',
    '{"phase":"build","visit":2}',
    'MLFLOW_TRACKING_URI=http://127.0.0.1:5000',
  ];
  // Not `/`, `+` or `=`: they belong to base64, so a secret glued to them is part of a longer string.
  const SEPS = [' ', '\n', ', ', ': ', ' = ', '"', "'", '(', ') ', '\t', '; '];
  const word = fc.constantFrom(...SAFE);
  const sep = fc.constantFrom(...SEPS);
  const safeText = fc
    .array(fc.tuple(word, sep), { maxLength: 40 })
    .map((ws) => ws.map(([w, s]) => w + s).join(''));

  const rnd = (chars: string, n: number) =>
    fc.string({ unit: fc.constantFrom(...chars), minLength: n, maxLength: n });
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const mixed = (n: number) =>
    rnd(ALNUM, n).filter((s) => /[0-9]/.test(s) && /[A-Z]/.test(s) && /[a-z]/.test(s));
  const envValue = rnd(ALNUM, 24).map((s) => `Zq${s}9`);
  const ENV_SECRET = 'RANDOM_SERVICE_TOKEN';

  /** A secret in some form, and the part of it that must not survive. */
  type Secret = { text: string; core: string };
  const secret = (envSecret: string): fc.Arbitrary<Secret> =>
    fc.oneof(
      mixed(32).map((s) => ({ text: `sk-proj-${s}`, core: s })),
      mixed(80).map((s) => ({ text: `sk-ant-api03-${s}`, core: s })),
      rnd(`${ALNUM}_-`, 35).map((s) => ({ text: `AIza${s}`, core: s })),
      rnd(ALNUM, 36).map((s) => ({ text: `ghp_${s}`, core: s })),
      rnd(ALNUM, 24).map((s) => ({ text: `sk_live_${s}`, core: s })),
      rnd(`${ALNUM}-`, 30).map((s) => ({ text: `xoxb-${s}`, core: s })),
      fc
        .tuple(mixed(20), mixed(20), mixed(30))
        .map(([a, b, c]) => ({ text: `eyJ${a}.eyJ${b}.${c}`, core: `${a}.eyJ${b}` })),
      fc
        .tuple(rnd('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16), mixed(40))
        .map(([id, s]) => ({ text: `AKIA${id} ${s}`, core: s })),
      mixed(16).map((p) => ({ text: `postgres://app:${p}@db.internal:5432/app`, core: p })),
      mixed(16).map((p) => ({ text: `redis://:${p}@cache:6379`, core: p })),
      mixed(16).map((p) => ({ text: `password: ${p}`, core: p })),
      mixed(43).map((s) => ({ text: `vts_${s}`, core: s })),
      mixed(48).map((s) => ({
        text: `-----BEGIN RSA PRIVATE KEY-----\n${s}\n-----END RSA PRIVATE KEY-----`,
        core: s,
      })),
      fc.constant({ text: envSecret, core: envSecret }),
    );

  it('no secret survives redaction, wherever it is inserted between words', () => {
    const cases = envValue.chain((envSecret) =>
      fc.tuple(
        fc.constant(envSecret),
        safeText,
        fc.array(fc.tuple(secret(envSecret), fc.nat(), sep), { minLength: 1, maxLength: 4 }),
      ),
    );
    fc.assert(
      fc.property(cases, ([envSecret, base, inserts]) => {
        const env = { ...BASE_ENV, [ENV_SECRET]: envSecret };
        // Insert each secret at a word boundary of the safe text, followed by a separator.
        const parts = base.split(/(?<=[\s,;:()"'])/);
        for (const [s, at, after] of inserts) parts.splice(at % (parts.length + 1), 0, `${s.text}${after}`);
        const out = redact(parts.join(''), env);
        for (const [s] of inserts)
          assert.ok(!out.includes(s.core), `${s.text} survives in ${JSON.stringify(out)}`);
        assert.equal(redact(out, env), out, 'redacting again changes nothing');
      }),
      { numRuns: 400 },
    );
  });

  it('text without secrets is unchanged', () => {
    fc.assert(
      fc.property(envValue, safeText, (envSecret, text) => {
        const env = { ...BASE_ENV, [ENV_SECRET]: envSecret };
        return redact(text, env) === text;
      }),
      { numRuns: 400 },
    );
  });

  it('one look at the environment serves a whole table', () => {
    const r = redactor({ ...BASE_ENV, SOME_API_KEY: 'table-secret-123' });
    assert.deepEqual(['a table-secret-123', 'b'].map(r), [`a ${REDACTED}`, 'b']);
  });
});
