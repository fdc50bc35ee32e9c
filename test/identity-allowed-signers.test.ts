import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatAllowedSigner, parseAllowedSigners } from '../src/identity/allowed-signers.ts';
import { generateEd25519 } from '../src/identity/key-file.ts';
import { keySigner } from '../src/identity/keys.ts';
import { matchPatternList } from '../src/identity/patterns.ts';
import {
  allowedSignerListings,
  KeyRing,
  keyStatusAt,
  keysValidAt,
  statusOfKeyFor,
} from '../src/identity/people.ts';
import { fingerprint, formatPublicKey } from '../src/identity/public-key.ts';
import { parseSshTime } from '../src/identity/ssh-time.ts';
import { sshsigSign } from '../src/identity/sshsig.ts';
import { tempDir } from './helpers.ts';
import { ssh } from './identity-helpers.ts';

const dir = tempDir('vt-signers-');
after(() => rmSync(dir, { recursive: true, force: true }));

// Local times in allowed_signers (no Z) are the machine's zone, for ssh-keygen and vt alike:
// run both in a zone that is not UTC (and not a whole hour off) so a mix-up shows.
const TZ = 'Asia/Kolkata';
process.env.TZ = TZ;

const K = {
  A: generateEd25519('a'),
  B: generateEd25519('b'),
  C: generateEd25519('c'),
  D: generateEd25519('d'),
};
const line = (k: keyof typeof K) => formatPublicKey(K[k].publicKey);
const message = Buffer.from('{"decision":"approve"}');

const FILE = [
  '# people who may sign vt decisions',
  '',
  `alice ${line('A')}`,
  `"alice smith,bob" ${line('A')} a comment after the key`,
  `*@example.com,!mallory@example.com ${line('B')}`,
  `carol namespaces="git" ${line('C')}`,
  `carol namespaces="vt,file" ${line('D')}`,
  `dave valid-after="20260101",valid-before="20261231Z" ${line('A')}`,
  `erin valid-after="202607011200" ${line('B')}`,
  `erin VALID-BEFORE="20251231235959Z" ${line('B')}`,
  `   \t frank ${line('C')}`,
  `"gina" ${line('D')}`,
  `h?nk namespaces="*" ${line('B')}`,
  '   # an indented comment',
].join('\n');

describe('allowed_signers: vt reads the file exactly as ssh-keygen -Y verify does', async () => {
  const file = join(dir, 'allowed_signers');
  writeFileSync(file, `${FILE}\n`);
  const ring = new KeyRing(allowedSignerListings(parseAllowedSigners(FILE, file)));
  const sigs: Record<string, string> = {};
  for (const k of Object.keys(K) as (keyof typeof K)[]) {
    sigs[k] = join(dir, `${k}.sig`);
    writeFileSync(sigs[k], await sshsigSign(message, keySigner(K[k], 'vt', 'mem'), 'vt'));
  }
  const principals = [
    'alice',
    'alice smith',
    'bob',
    'eve@example.com',
    'mallory@example.com',
    'carol',
    'dave',
    'erin',
    'frank',
    'gina',
    'hank',
    'nobody',
    'alice smith,bob',
  ];
  const times = [
    '20251231235959Z',
    '20260101000000Z',
    '20251231190000Z',
    '20260701120000Z',
    '20270101000000Z',
  ];

  it('agrees with ssh-keygen on every principal × key × time (with verify-time)', () => {
    let agreed = 0;
    let accepted = 0;
    for (const p of principals)
      for (const k of Object.keys(K) as (keyof typeof K)[])
        for (const t of times) {
          const r = ssh(
            'ssh-keygen',
            ['-Y', 'verify', '-f', file, '-I', p, '-n', 'vt', '-s', sigs[k]!, '-O', `verify-time=${t}`],
            { input: message, env: { TZ } },
          );
          const theirs = r.code === 0;
          const at = parseSshTime(t)!;
          const ours = statusOfKeyFor(ring, p, fingerprint(K[k].publicKey), at)?.status === 'valid';
          assert.equal(
            ours,
            theirs,
            `${p} / key ${k} / ${t}: vt ${ours}, ssh-keygen ${theirs} (${r.stderr.trim()})`,
          );
          agreed++;
          if (ours) accepted++;
        }
    // The grid must exercise both answers, or the comparison proves nothing.
    assert.ok(accepted > 10 && accepted < agreed - 10, `${accepted} of ${agreed} accepted`);
  });

  it('quoted principals may hold spaces, and commas still separate them', () => {
    assert.deepEqual(
      keysValidAt(ring, 'alice smith', Date.now()).map((k) => k.source),
      [`${file}:4`],
    );
    assert.equal(keysValidAt(ring, 'bob', Date.now()).length, 1);
    assert.equal(keysValidAt(ring, 'alice smith,bob', Date.now()).length, 0);
  });

  it('find-principals agrees: ssh-keygen names the first line listing the key that is valid then, as vt does', () => {
    const at = '20260301000000Z';
    for (const k of Object.keys(K) as (keyof typeof K)[]) {
      const r = ssh(
        'ssh-keygen',
        ['-Y', 'find-principals', '-f', file, '-s', sigs[k]!, '-O', `verify-time=${at}`],
        {
          env: { TZ },
        },
      );
      const fp = fingerprint(K[k].publicKey);
      const first = ring.entries.find(
        (e) => e.fingerprint === fp && keyStatusAt(e, parseSshTime(at)!) === 'valid',
      );
      assert.equal(r.code === 0, !!first, `key ${k}: ${r.stderr}`);
      if (first) assert.deepEqual(r.stdout.trim().split('\n'), first.principals.split(','), `key ${k}`);
    }
  });

  it('a line vt writes is read back by ssh-keygen and by vt with the same window', () => {
    const written = formatAllowedSigner({
      principals: ['ivan@example.com', 'ivan'],
      key: K.C.publicKey,
      namespaces: ['vt'],
      validAfter: Date.parse('2026-02-01T10:00:00Z'),
      validBefore: Date.parse('2026-03-01T10:00:00Z'),
    });
    const f = join(dir, 'written');
    writeFileSync(f, `${written}\n`);
    const [e] = parseAllowedSigners(written, f);
    assert.equal(e!.validAfter, Date.parse('2026-02-01T10:00:00Z'));
    for (const [t, want] of [
      ['20260201095959Z', false],
      ['20260201100000Z', true],
      ['20260301100000Z', true],
      ['20260301100001Z', false],
    ] as const) {
      const r = ssh(
        'ssh-keygen',
        ['-Y', 'verify', '-f', f, '-I', 'ivan', '-n', 'vt', '-s', sigs.C!, '-O', `verify-time=${t}`],
        {
          input: message,
        },
      );
      assert.equal(r.code === 0, want, `${t}: ${r.stderr}`);
      const ours = statusOfKeyFor(
        new KeyRing(allowedSignerListings([e!])),
        'ivan',
        fingerprint(K.C.publicKey),
        parseSshTime(t)!,
      );
      assert.equal(ours?.status === 'valid', want, t);
    }
  });
});

describe('allowed_signers: bad lines are refused with file:line, never skipped', () => {
  const cases: [string, string, RegExp][] = [
    [
      'cert-authority',
      `*@example.com cert-authority ${line('A')}`,
      /:1: cert-authority names an SSH certificate authority/,
    ],
    ['cert-authority among options', `alice namespaces="vt",cert-authority ${line('A')}`, /cert-authority/],
    ['an unknown option', `alice foo="bar" ${line('A')}`, /unknown key option/],
    ['an option without quotes', `alice namespaces=vt ${line('A')}`, /missing start quote/],
    ['a repeated option', `alice namespaces="vt",namespaces="git" ${line('A')}`, /multiple "namespaces"/],
    [
      'a window that closes before it opens',
      `alice valid-after="20260201",valid-before="20260101" ${line('A')}`,
      /before "valid-after"/,
    ],
    [
      'an ISO date where OpenSSH wants YYYYMMDD',
      `alice valid-after="2026-01-01" ${line('A')}`,
      /invalid "valid-after" time/,
    ],
    [
      'a date that does not exist',
      `alice valid-before="20260230" ${line('A')}`,
      /invalid "valid-before" time/,
    ],
    ['a principal with no key', 'alice', /a principal but no key/],
    ['options with no key', 'alice namespaces="vt"', /missing key/],
    ['a quote never closed', `"alice bob ${line('A')}`, /never closed/],
    ['empty principals', `"" ${line('A')}`, /empty principals/],
    ['a damaged key', `alice ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ`, /invalid key/],
    ['a certificate', `alice ssh-ed25519-cert-v01@openssh.com AAAA`, /SSH certificate/],
    ['a security key', `alice sk-ssh-ed25519@openssh.com AAAA`, /security-key/],
    ['a DSA key', `alice ssh-dss AAAA`, /DSA/],
    [
      'a trailing comma in options',
      `alice namespaces="vt", ${line('A')}`,
      /end-of-options|unknown key option|invalid key/,
    ],
  ];
  for (const [name, text, want] of cases) {
    it(`${name}`, () => {
      assert.throws(
        () => parseAllowedSigners(`${text}\n`, 'signers'),
        (e: Error & { code?: string }) =>
          e.code === 'BAD_INPUT' && /^signers:1: /.test(e.message) && want.test(e.message),
      );
    });
  }

  it('the line number is the bad line’s, after comments and blank lines', () => {
    assert.throws(
      () => parseAllowedSigners(`# x\n\nalice ${line('A')}\nbob cert-authority ${line('B')}\n`, 'f'),
      (e: Error) => e.message.startsWith('f:4: '),
    );
  });

  it('and ssh-keygen does not accept a signature through any of those lines either', () => {
    for (const [name, text] of cases.slice(0, 8)) {
      const f = join(dir, `bad-${name.replace(/\W+/g, '-')}`);
      writeFileSync(f, `${text}\n`);
      const sig = join(dir, 'A.sig');
      const r = ssh('ssh-keygen', ['-Y', 'verify', '-f', f, '-I', 'alice', '-n', 'vt', '-s', sig], {
        input: message,
      });
      assert.notEqual(r.code, 0, name);
    }
  });
});

describe('OpenSSH pattern lists', () => {
  it('wildcards, negation and literal commas behave as in match.c', () => {
    assert.equal(matchPatternList('eve@example.com', '*@example.com'), 1);
    assert.equal(matchPatternList('mallory@example.com', '*@example.com,!mallory@example.com'), -1);
    assert.equal(matchPatternList('hank', 'h?nk'), 1);
    assert.equal(matchPatternList('hnk', 'h?nk'), 0);
    assert.equal(matchPatternList('a', 'a*'), 1);
    assert.equal(matchPatternList('', '*'), 1);
    assert.equal(matchPatternList('abc', '*b*c*'), 1);
    assert.equal(matchPatternList('x'.repeat(5000), `${'*x'.repeat(30)}y`), 0);
  });
});
