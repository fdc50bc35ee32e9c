import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { VtError } from '../errors.ts';
import { parseAllowedSigners } from '../identity/allowed-signers.ts';
import { didYouMean } from '../suggest.ts';
import { trainHash } from './hash.ts';
import { type Train, TrainSchema, trainJsonSchema } from './schema.ts';

/** One problem in a train file, located by line and column (1-based). */
export interface TrainProblem {
  file: string;
  line: number;
  column: number;
  /** The dotted path of the offending field, e.g. phases[3].gates.exit[0].kind */
  field: string;
  message: string;
}

export interface LoadedTrain {
  train: Train;
  /** sha256 of the canonical JSON of the validated train: formatting and comments do not change it. */
  hash: string;
  file: string;
  /** Map a field path to its line and column, for the linter's messages. */
  locate(path: readonly (string | number)[]): { line: number; column: number };
}

export function formatProblem(p: TrainProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}

/** Parse and validate a train from YAML text; every problem is reported with file:line:column. */
export function parseTrain(text: string, file = 'vt.yaml'): LoadedTrain {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => lineCounter.linePos(offset);
  const problems: TrainProblem[] = [];
  for (const e of doc.errors) {
    const { line, col } = pos(e.pos[0]);
    problems.push({ file, line, column: col, field: '', message: e.message.split('\n')[0]! });
  }
  if (problems.length) throw trainInvalid(problems);

  const locate = (path: readonly (string | number)[]) => {
    // Walk down as far as the path exists, so a missing key points at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const { line, col } = pos(node.range[0]);
        return { line, column: col };
      }
    }
    return { line: 1, column: 1 };
  };
  /** Point at an unknown key itself rather than at the mapping that holds it. */
  const locateKey = (path: readonly (string | number)[], key: string) => {
    const map = doc.getIn(path, true);
    if (isMap(map)) {
      const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (pair && isNode(pair.key) && pair.key.range) {
        const { line, col } = pos(pair.key.range[0]);
        return { line, column: col };
      }
    }
    return locate(path);
  };
  const data = doc.toJS({ maxAliasCount: 100 });
  const parsed = TrainSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    throw trainInvalid(
      parsed.error.issues.map((issue) => {
        const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
        const at = issue.code === 'unrecognized_keys' ? locateKey(path, issue.keys[0]!) : locate(path);
        const hint = issue.code === 'unrecognized_keys' ? knownFieldHint(path, issue.keys[0]!) : '';
        return { file, ...at, field: formatPath(path), message: `${describeIssue(issue)}${hint}` };
      }),
    );
  }
  return { train: parsed.data, hash: trainHash(parsed.data), file, locate };
}

export function loadTrainFile(file: string): LoadedTrain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtError('NOT_FOUND', `cannot read the train file ${file}: ${(err as Error).message}`, {
      hint: 'Create one with: vt init',
    });
  }
  return pinSigners(parseTrain(text, file));
}

/**
 * Read the allowed_signers file a train names and keep its text in the train, so the hash a project
 * pins covers who may sign (whoever could write the file could otherwise change it unseen).
 */
export function pinSigners(
  loaded: LoadedTrain,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): LoadedTrain {
  const named = loaded.train.signers;
  if (typeof named !== 'string') return loaded;
  const path = resolve(dirname(loaded.file), named);
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new VtError(
      'NOT_FOUND',
      `the train names signers: ${named}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
      { hint: `Create ${path} (allowed_signers format), or remove signers: from ${loaded.file}` },
    );
  }
  parseAllowedSigners(text, path); // refuses a bad line now, naming file:line
  const train = { ...loaded.train, signers: { file: named, text } };
  return { ...loaded, train, hash: trainHash(train) };
}

function trainInvalid(problems: TrainProblem[]): VtError {
  const shown = problems.slice(0, 20).map(formatProblem).join('\n');
  const more = problems.length > 20 ? `\n… and ${problems.length - 20} more` : '';
  return new VtError('TRAIN_INVALID', `the train is not valid:\n${shown}${more}`, {
    hint: 'Fix the lines above, then run: vt lint',
    details: { problems },
  });
}

type JsonSchemaNode = {
  $ref?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  additionalProperties?: JsonSchemaNode | boolean;
  oneOf?: JsonSchemaNode[];
  anyOf?: JsonSchemaNode[];
  allOf?: JsonSchemaNode[];
  $defs?: Record<string, JsonSchemaNode>;
};

/** " Did you mean `next`?" for an unknown field, from the fields the schema allows at that path. */
function knownFieldHint(path: readonly (string | number)[], key: string): string {
  const root = trainJsonSchema() as JsonSchemaNode;
  const deref = (n: JsonSchemaNode): JsonSchemaNode[] => {
    if (n.$ref) {
      const def = root.$defs?.[n.$ref.replace('#/$defs/', '')];
      return def ? deref(def) : [];
    }
    const branches = [...(n.oneOf ?? []), ...(n.anyOf ?? []), ...(n.allOf ?? [])];
    return branches.length ? [n, ...branches.flatMap(deref)] : [n];
  };
  let nodes = deref(root);
  for (const k of path) {
    nodes = nodes.flatMap((n) => {
      if (typeof k === 'number') return n.items ? deref(n.items) : [];
      const p = n.properties?.[k];
      if (p) return deref(p);
      return typeof n.additionalProperties === 'object' ? deref(n.additionalProperties) : [];
    });
  }
  const fields = nodes.flatMap((n) => Object.keys(n.properties ?? {}));
  const hint = didYouMean(key, fields);
  return hint ? `. ${hint}` : fields.length ? `. Fields here: ${[...new Set(fields)].join(', ')}` : '';
}

/** Turn a zod issue into a sentence that says what would be valid. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `is required (${issue.expected})`
        : `expected ${issue.expected}, not ${issue.input === null ? 'null' : Array.isArray(issue.input) ? 'a list' : typeof issue.input}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `needs at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`
        : `must be at least ${issue.minimum}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator)
        return `unknown ${issue.discriminator}: ${issue.message}`;
      return issue.message;
    default:
      return issue.message;
  }
}
