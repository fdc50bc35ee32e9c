import { loadBrief } from '../lib/brief.ts';
import { readSource, SOURCE_FILE } from '../lib/source.ts';
import { type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/** Field names that would hint at personal data. */
const PERSONAL = /name|email|phone|address|birth|observer|person/i;

/** Data sources: the source inventory with a sample pulled from each source. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const src = readSource(ctx.exampleDir);
  const fields = Object.keys(src.records[0] ?? {});
  const personal = fields.filter((f) => PERSONAL.test(f));
  const sources = b.data_sources.map((d) => ({
    name: d.name,
    owner: d.owner,
    system: d.system,
    location: d.location,
    refresh: d.refresh,
    access: d.access,
    legal_basis: d.legal_basis,
    personal_data: personal.length ? personal : [],
    original_sources: d.original_sources,
    fields,
    records: src.records.length,
    sha256: src.sha256,
    sample: src.records.slice(0, 3),
  }));
  writeJson(ctx, 'data/sources.json', { sources });

  const notes = [
    '# Data sources',
    '',
    ...b.data_sources.flatMap((d) => [
      `## ${d.name}`,
      `- Owner: ${d.owner}`,
      `- System and location: ${d.system}; copied to ${SOURCE_FILE} in the example.`,
      `- Refresh: ${d.refresh}. Access: ${d.access}.`,
      `- Legal basis: ${d.legal_basis}. Personal data: ${personal.length ? personal.join(', ') : 'none (no field names a person)'}.`,
      `- Fields: ${fields.join(', ')}.`,
      `- Sample pulled: ${src.records.length} records read, first 3 stored in data/sources.json.`,
      '- Quirks: 2 birds lack all measurements; 10 lack sex and 1 has sex "."; there is no date or band-number column.',
      '',
    ]),
    '## Lineage',
    'One source, no joins. Each record is one bird at one capture. The target (Sex) comes from',
    'molecular sexing of a blood sample in the original study; species and island were recorded by',
    'the observer; the four measurements were taken in the field with callipers, ruler and scale.',
    '',
  ].join('\n');
  writeText(ctx, 'docs/data-sources.md', notes);

  return {
    ticks: ['list-sources', 'sample-sources', 'check-legal-basis', 'document-lineage'],
    artifacts: [
      { id: 'sources', path: 'data/sources.json' },
      { id: 'sources-notes', path: 'docs/data-sources.md' },
    ],
    metrics: {},
    context: [
      { kind: 'fact', text: `Legal basis of ${b.data_sources[0]!.name}: ${b.data_sources[0]!.legal_basis}.` },
      {
        kind: 'fact',
        text: `No field holds personal data (fields: ${fields.join(', ')}).`,
      },
      { kind: 'risk', text: 'The source has no date column, so splits cannot be made by time.' },
    ],
    summary: `Listed ${sources.length} source with owner and location and sampled ${src.records.length} records.`,
  };
}
