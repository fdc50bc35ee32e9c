import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { TRAIN_FORMAT } from '../src/train/format.ts';
import { canonicalTrain, trainHash } from '../src/train/hash.ts';
import { parseTrain } from '../src/train/loader.ts';
import { TrainSchema } from '../src/train/schema.ts';
import { storedTrain } from '../src/train/stored.ts';
import { folderStore, runVt, tempDir } from './helpers.ts';
import { describeOnBackends, rawStore } from './pg.ts';

const template = () => parseTrain(readFileSync('templates/ml-value-train.yaml', 'utf8'));

describe('stored trains', () => {
  it('TRAIN_FORMAT is the fingerprint of the schema as it is now (update it when the schema changes)', () => {
    const schemas = JSON.stringify([
      z.toJSONSchema(TrainSchema, { io: 'input', unrepresentable: 'any' }),
      z.toJSONSchema(TrainSchema, { io: 'output', unrepresentable: 'any' }),
    ]);
    assert.equal(createHash('sha256').update(schemas).digest('hex').slice(0, 16), TRAIN_FORMAT);
  });

  it('a body of the current format that hashes to its name is used as it is; anything else is parsed', async () => {
    const { train, hash } = template();
    const body = JSON.stringify(train);
    assert.deepEqual(await storedTrain(hash, body, TRAIN_FORMAT), train);
    // Stored by an older vt: a field the schema defaults is missing, and the schema fills it again.
    const older = JSON.parse(body);
    assert.equal(older.phases[0].checklist[0].required, true);
    delete older.phases[0].checklist[0].required;
    assert.deepEqual(await storedTrain(hash, JSON.stringify(older), null), train);
    // Edited in the database, with the current format claimed: the hash no longer matches, so the
    // schema judges it, and refuses what it would never have produced.
    const edited = JSON.parse(body);
    edited.phases[0].owner = 42;
    await assert.rejects(storedTrain(hash, JSON.stringify(edited), TRAIN_FORMAT), /owner/);
  });
});

// The folder's store: its .vt/vt.db, or on PostgreSQL its database, read and edited as its owner could.
describeOnBackends('stored trains in the store', () => {
  it('vt init stores the train with its format; a store from before it still reads the same', async () => {
    const dir = tempDir();
    const vt = (args: string[]) => runVt(args, { cwd: dir });
    assert.equal((await vt(['init'])).code, 0);
    assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
    const target = await folderStore(dir);
    const formats = async () => {
      const db = await rawStore(target);
      try {
        return (await db.all<{ format: string | null }>('select format from trains')).map((r) => r.format);
      } finally {
        await db.close();
      }
    };
    assert.deepEqual(await formats(), [TRAIN_FORMAT]);
    const now = await vt(['status', 'churn', '--json']);
    assert.equal(now.code, 0, now.stderr);
    // As a store written before formats were kept: the train is parsed again, with the same result.
    const db = await rawStore(target);
    await db.run('update trains set format = null');
    await db.close();
    const before = await vt(['status', 'churn', '--json']);
    assert.equal(before.code, 0, before.stderr);
    assert.deepEqual(JSON.parse(before.stdout), JSON.parse(now.stdout));
    assert.deepEqual(await formats(), [null], 'a read leaves the store as it was');
  });

  it('a train is stored as its canonical JSON, so its text hashes to its name; a plain-JSON body still reads', async () => {
    const dir = tempDir();
    const vt = (args: string[]) => runVt(args, { cwd: dir });
    assert.equal((await vt(['init'])).code, 0);
    assert.equal((await vt(['project', 'create', 'Churn'])).code, 0);
    const db = await rawStore(await folderStore(dir));
    try {
      const [row] = await db.all<{ hash: string; body: string }>('select hash, body from trains');
      assert.ok(row, 'the train is stored');
      assert.equal(createHash('sha256').update(row.body).digest('hex'), row.hash);
      const train = JSON.parse(row.body);
      assert.equal(row.body, canonicalTrain(train));
      const now = await vt(['status', 'churn', '--json']);
      assert.equal(now.code, 0, now.stderr);
      // As an earlier vt stored it (plain JSON, keys in the file's order): the same train, the same status.
      const { train: fromFile } = parseTrain(readFileSync(join(dir, 'vt.yaml'), 'utf8'));
      const plain = JSON.stringify(fromFile);
      assert.notEqual(plain, row.body);
      assert.equal(trainHash(JSON.parse(plain)), row.hash);
      await db.run('update trains set body = ?', plain);
      const earlier = await vt(['status', 'churn', '--json']);
      assert.equal(earlier.code, 0, earlier.stderr);
      assert.deepEqual(JSON.parse(earlier.stdout), JSON.parse(now.stdout));
      // Canonical-looking text that is not this train: the text's hash misses, the schema judges it.
      const edited = JSON.parse(row.body);
      edited.phases[0].owner = 42;
      await assert.rejects(storedTrain(row.hash, canonicalTrain(edited), TRAIN_FORMAT), /owner/);
    } finally {
      await db.close();
    }
  });
});
