import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { type DecisionPayload, decisionMessage, signDecision } from '../src/identity/decisions.ts';
import { keySigner } from '../src/identity/keys.ts';
import { type SshProof, sshProof } from '../src/identity/proof.ts';
import { fingerprint, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { loadKeyFile } from '../src/identity/vt-keys.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { loadTrainFile } from '../src/train/loader.ts';
import { folderStore, MINI, TestClock, tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey } from './identity-helpers.ts';

/*
 * The mini train with people's keys (made by ssh-keygen) and `decisions: {signed: required}`:
 *   lead-1 (lead, reviewer), lead-2 (lead; an old key that expired on 2026-03-01 and a current one),
 *   rev-1 (reviewer; a key revoked on 2026-06-01), lab-1 (no role; marks tickets done), and mallory's
 *   key, listed for no one.
 */

export const PEOPLE = /^people:\n(?: {2}.*\n)+/m;

export function signedTrainText(keys: Record<string, string>, policy: 'required' | 'optional' = 'required') {
  const block = `people:
  lead-1:
    roles: [lead, reviewer]
    keys: [{ key: "${pubLine(keys.lead1!)}" }]
  lead-2:
    roles: [lead]
    keys:
      - { key: "${pubLine(keys.lead2old!)}", valid_before: "2026-03-01T00:00:00Z" }
      - { key: "${pubLine(keys.lead2!)}" }
  rev-1:
    roles: [reviewer]
    keys: [{ key: "${pubLine(keys.rev1!)}", revoked_at: "2026-06-01T00:00:00Z" }]
  lab-1:
    roles: []
    keys: [{ key: "${pubLine(keys.lab1!)}" }]
decisions:
  signed: ${policy}
`;
  return readFileSync(MINI, 'utf8').replace(PEOPLE, block);
}

export function makeKeys(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['lead1', 'lead2', 'lead2old', 'rev1', 'lab1', 'mallory'])
    out[name] = sshKeygenKey(dir, name);
  return out;
}

/** A fresh store and engine (test clock at 2026-01-01) in a folder whose vt.yaml is the signed train. */
export async function signedEngine(policy: 'required' | 'optional' = 'required') {
  const dir = tempDir('vt-signing-');
  const keyDir = tempDir('vt-signing-keys-'); // outside the workspace, as people's keys are
  const keys = makeKeys(keyDir);
  const trainFile = join(dir, 'vt.yaml');
  writeFileSync(trainFile, signedTrainText(keys, policy));
  // The folder's store: its .vt/vt.db, or a database of its own inside describeOnBackends.
  const target = await folderStore(dir);
  const store = await openStore(target, { synchronous: 'NORMAL' });
  const clock = new TestClock();
  const engine = new Engine({ store, io: nodeIo, clock });
  return { dir, keyDir, keys, store, target, engine, clock, train: loadTrainFile(trainFile) };
}

/** Sign a payload with a key file, as vt does. */
export async function signAs(keyFile: string, payload: DecisionPayload): Promise<SshProof> {
  return sshProof(await signDecision(payload, keySigner(loadKeyFile(keyFile), 'file', keyFile)));
}

/** Sign a payload with `ssh-keygen -Y sign -n vt`, and wrap it as a proof. */
export function sshKeygenProof(keyFile: string, payload: DecisionPayload, dir: string): SshProof {
  const msg = join(dir, `decision-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(msg, decisionMessage(payload));
  const r = ssh('ssh-keygen', ['-Y', 'sign', '-f', keyFile, '-n', 'vt', msg]);
  if (r.code !== 0) throw new Error(`ssh-keygen -Y sign failed: ${r.stderr}`);
  return {
    method: 'ssh',
    payload,
    signature: readFileSync(`${msg}.sig`, 'utf8'),
    key: fingerprint(parsePublicKeyLine(pubLine(keyFile))),
    signer: payload.actor,
  };
}
