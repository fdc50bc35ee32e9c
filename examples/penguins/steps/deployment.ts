import { loadBrief } from '../lib/brief.ts';
import { jsonClient, percentile } from '../lib/client.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { sha256 } from '../lib/hash.ts';
import { modelVersion, readModel, readPenguins } from '../lib/io.ts';
import { modelToJson, predict } from '../lib/model.ts';
import { startScoringServer } from '../lib/server.ts';
import { round } from '../lib/stats.ts';
import { installedVersion } from '../lib/versions.ts';
import { exists, type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/** How many real validation birds the smoke/load test sends (the test split is validation's alone). */
const REQUESTS = 50;

/** Deployment: package the model, serve it on 127.0.0.1, load-test it with real birds, stop it. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const model = readModel(ctx);
  const version = modelVersion(model);
  const previous = exists(ctx, 'models/champion-previous.json')
    ? modelVersion(readModel(ctx, 'models/champion-previous.json'))
    : null;
  const manifest = {
    version,
    model: 'models/model.json',
    model_sha256: sha256(modelToJson(model)),
    dependencies: {
      'ml-logistic-regression': installedVersion('ml-logistic-regression'),
      'ml-matrix': installedVersion('ml-matrix'),
    },
    runtime: 'node >= 24',
    endpoint: 'POST /score',
    previous_version: previous,
  };
  writeJson(ctx, 'deploy/manifest.json', manifest);

  const birds = readPenguins(ctx, 'data/splits/valid.csv').slice(0, REQUESTS);
  recordDataUse(ctx, [{ set: 'valid', purpose: 'smoke-test', rows: birds }]);
  const offline = predict(model, birds);
  const server = await startScoringServer(model, version, b.success.confidence_cut);
  const client = jsonClient(server.url);
  const latencies: number[] = [];
  let mismatches = 0;
  let health: unknown;
  let badStatus = 0;
  try {
    health = (await client.get('/health')).body;
    for (const [i, p] of birds.entries()) {
      const { sex: _sex, id: _id, ...features } = p;
      const r = await client.post('/score', features);
      if (r.status !== 200) throw new Error(`POST /score answered ${r.status}: ${JSON.stringify(r.body)}`);
      latencies.push(r.ms);
      const prob = (r.body as { probability_male: number }).probability_male;
      if (Math.abs(prob - offline[i]!) > 1e-12) mismatches++;
    }
    badStatus = (await client.post('/score', { species: 'Adelie' })).status;
  } finally {
    client.destroy();
    await server.close();
  }
  if (mismatches) throw new Error(`${mismatches} served scores differ from offline scores`);
  if (badStatus !== 400) throw new Error(`an invalid request got ${badStatus}, not 400`);
  const p95 = round(percentile(latencies, 95), 3);
  const p50 = round(percentile(latencies, 50), 3);

  writeJson(ctx, 'reports/deployment.json', {
    latency_p95_ms: p95,
    latency_p50_ms: p50,
    latency_max_ms: round(Math.max(...latencies), 3),
    requests: latencies.length,
    errors: 0,
    served_equals_offline: true,
    invalid_request_status: badStatus,
    version,
    endpoint: 'POST /score on 127.0.0.1 (ephemeral port)',
    health,
    manifest: 'deploy/manifest.json',
  });
  const runbook = [
    `# Runbook: ${b.project_name}`,
    '',
    `Deployed version: \`${version}\` (models/model.json, sha256 ${manifest.model_sha256.slice(0, 16)}...).`,
    `Dependencies pinned: ml-logistic-regression ${manifest.dependencies['ml-logistic-regression']}, ml-matrix ${manifest.dependencies['ml-matrix']}; Node 24 or later.`,
    '',
    '## Start and stop',
    '- The service is `startScoringServer(model, version)` in examples/penguins/lib/server.ts: it listens on',
    '  127.0.0.1 on a free port and logs nothing personal. Stop it with the returned `close()`.',
    '- `GET /health` answers `{"status":"ok","version":...}`.',
    '- `POST /score` takes `{"species","island","bill_length_mm","bill_depth_mm","flipper_length_mm","body_mass_g"}`',
    `  and answers \`{"probability_male","sex","confident","version"}\`; confident means p >= ${b.success.confidence_cut} or <= ${round(1 - b.success.confidence_cut, 2)}.`,
    '',
    '## Health figures at deployment',
    `- ${latencies.length} real validation birds: p50 ${p50} ms, p95 ${p95} ms (budget ${b.success.max_latency_ms} ms); served scores equal offline scores.`,
    `- An invalid request is refused with ${badStatus}.`,
    '',
    '## Troubleshooting',
    '- 400 answers: the tablet sent a missing or non-numeric measurement; the body names the field.',
    '- Unknown species or island: scored as the reference level; treat the bird as unsure and sample it.',
    '- Scores drifting (monitoring PSI > 0.2): raise with the field lead; see docs/root-causes.md after improvement.',
    '',
    '## Roll back',
    previous
      ? `1. Copy models/champion-previous.json (version \`${previous}\`) over models/model.json.`
      : '1. Restore the previous models/model.json from the workspace history (this is the first version).',
    '2. Restart the service and check `GET /health` shows the old version.',
    '3. Re-run the deployment smoke test and record the rollback as a decision.',
    '',
    `On call: ${b.operations.on_call}, ${b.operations.alert_channel}.`,
    '',
  ].join('\n');
  writeText(ctx, 'docs/runbook.md', runbook);

  return {
    ticks: ['package-model', 'deploy-service', 'load-test', 'write-runbook'],
    artifacts: [
      { id: 'deployment-report', path: 'reports/deployment.json' },
      { id: 'runbook', path: 'docs/runbook.md' },
    ],
    metrics: { latency_p95_ms: p95 },
    context: [
      { kind: 'fact', text: `Deployed version ${version}${previous ? ` (previous ${previous})` : ''}.` },
      { kind: 'fact', text: `Load test: ${latencies.length} requests, p95 ${p95} ms, p50 ${p50} ms.` },
    ],
    summary: `Served ${version} on 127.0.0.1 and load-tested it with ${latencies.length} real birds: p95 ${p95} ms.`,
  };
}
