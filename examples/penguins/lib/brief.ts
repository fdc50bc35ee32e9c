import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const text = z.string().min(1);
const person = z.object({ name: text, role: text, needs: text });
const dim = z.object({ score: z.number().min(1).max(5), evidence: text });

/** The shape of examples/penguins/project-brief.yaml. */
const BriefSchema = z.object({
  project_name: text,
  team: text,
  owner: text,
  requester: text,
  sponsor: text,
  date: text,
  version: text,
  priority: text,
  problem: text,
  decision: z.object({ what: text, who: text, when: text, today: text, volume: text }),
  prediction: z.object({ target: text, unit: text, horizon: text, output: text }),
  value: z.object({
    estimate: text,
    lab_cost_per_bird: z.number(),
    birds_per_season: z.number(),
    handling_hours_per_100_birds: z.number(),
    hourly_cost: z.number(),
    cost_of_nothing: text,
    first_beneficiary: text,
  }),
  success: z.object({
    metric: text,
    baseline: text,
    target: text,
    confidence_cut: z.number(),
    min_confident_accuracy: z.number(),
    evaluation_window: text,
    min_auc: z.number(),
    min_f1: z.number(),
    max_latency_ms: z.number(),
  }),
  feasibility: z.array(z.object({ question: text, answer: text, confidence: text })),
  prior_work: z.array(text),
  risks: z.array(text),
  recommendation: z.enum(['go', 'not-now', 'no-go']),
  recommendation_reasons: text,
  revisit_date: text,
  stakeholders: z.array(person).min(1),
  interviews: z.array(z.object({ who: text, notes: text })).min(1),
  constraints: z.object({ latency: text, explainability: text, privacy: text, integration: text }),
  data_hypotheses: z.array(text),
  data_sources: z
    .array(
      z.object({
        name: text,
        owner: text,
        system: text,
        location: text,
        refresh: text,
        access: text,
        legal_basis: text,
        personal_data: text,
        original_sources: z.array(text),
      }),
    )
    .min(1),
  readiness: z.object({
    data: dim,
    infrastructure: dim,
    people: dim,
    governance: dim,
    gaps: z.array(
      z.object({
        gap: text,
        dimension: z.enum(['data', 'infrastructure', 'people', 'governance']),
        owner: text,
        date: text,
        blocks: text,
      }),
    ),
    summary: text,
  }),
  scope: z.object({
    population: text,
    delivery: text,
    duration: text,
    kickoff_date: text,
    handover_date: text,
    acceptance_days: z.number(),
    expert_hours: z.number(),
    budget: text,
    milestones: z.array(z.object({ name: text, date: text, deliverable: text, payment: z.number() })),
    effort_days: z.number(),
    day_rate: z.number(),
  }),
  access: z.object({
    repo_url: text,
    secret_manager: text,
    environments: z.array(z.object({ name: text, where: text })),
    kickoff_attendees: text,
  }),
  operations: z.object({ on_call: text, alert_channel: text }),
  feedback: z.array(z.object({ who: text, said: text })).min(1),
});

/** The parsed project brief. */
export type Brief = z.infer<typeof BriefSchema>;

/** Read and check project-brief.yaml from the example folder. */
export function loadBrief(exampleDir: string): Brief {
  const raw: unknown = parse(readFileSync(join(exampleDir, 'project-brief.yaml'), 'utf8'));
  const r = BriefSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`project-brief.yaml: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}
