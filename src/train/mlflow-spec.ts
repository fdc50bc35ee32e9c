import { z } from 'zod';

/*
 * The `mlflow` gate kind: a metric of a model version (by alias or number) or a run, read from an
 * MLflow tracking server and judged with MLflow's MetricThreshold semantics, optionally against a
 * baseline (another alias, version or run), optionally writing back after a passing promotion.
 */

const Selector = {
  alias: z.string().min(1).max(256).optional().describe('a registered-model alias, e.g. challenger'),
  version: z.union([z.string().regex(/^\d+$/), z.number().int().positive()]).optional(),
  run: z.string().min(1).optional().describe('a run id'),
  search: z
    .object({
      experiment_ids: z.array(z.string().min(1)).min(1),
      filter: z.string().optional(),
      order_by: z.array(z.string()).optional(),
    })
    .strict()
    .optional()
    .describe('or the first run that runs/search returns'),
};

const oneSelector = (s: { alias?: unknown; version?: unknown; run?: unknown; search?: unknown }) =>
  [s.alias, s.version, s.run, s.search].filter((x) => x !== undefined).length === 1;

export const BaselineSchema = z
  .object(Selector)
  .strict()
  .refine(oneSelector, { message: 'a baseline names exactly one of alias, version, run or search' });

export const MlflowGateFields = {
  kind: z.literal('mlflow'),
  tracking_uri: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('default: integrations.mlflow or MLFLOW_TRACKING_URI'),
  model: z.string().min(1).optional().describe('the registered model (needed for alias and version)'),
  ...Selector,
  metric: z.string().min(1).max(250),
  step: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("the metric's value at this step (default: the latest)"),
  threshold: z.number().optional(),
  min_absolute_change: z.number().positive().optional(),
  min_relative_change: z.number().min(0).max(1).optional(),
  greater_is_better: z.boolean(),
  baseline: BaselineSchema.optional(),
  promote: z
    .object({
      alias: z
        .string()
        .min(1)
        .max(256)
        .describe('the alias vt moves to the candidate after a passing promotion'),
      tags: z.record(z.string().min(1).max(250), z.string().max(5000)).default({}),
    })
    .strict()
    .optional(),
  timeout_s: z.number().positive().max(120).default(10),
};

/** Refinements shared by the schema in src/train/schema.ts. */
export function checkMlflowGate(g: {
  model?: string | undefined;
  alias?: unknown;
  version?: unknown;
  run?: unknown;
  search?: unknown;
  threshold?: number | undefined;
  min_absolute_change?: number | undefined;
  min_relative_change?: number | undefined;
  baseline?: { alias?: unknown; version?: unknown } | undefined;
  promote?: unknown;
}): string | null {
  if (!oneSelector(g)) return 'an mlflow gate names exactly one of alias, version, run or search';
  if (
    (g.alias !== undefined ||
      g.version !== undefined ||
      g.baseline?.alias !== undefined ||
      g.baseline?.version !== undefined) &&
    !g.model
  )
    return 'an mlflow gate that names an alias or a version needs model';
  if (g.threshold === undefined && g.min_absolute_change === undefined && g.min_relative_change === undefined)
    return 'an mlflow gate needs threshold, min_absolute_change or min_relative_change';
  if ((g.min_absolute_change !== undefined || g.min_relative_change !== undefined) && !g.baseline)
    return 'min_absolute_change and min_relative_change compare with a baseline: add baseline';
  if (g.promote !== undefined && g.alias === undefined && g.version === undefined)
    return 'promote moves an alias to a model version: name the candidate by alias or version';
  return null;
}

export type MlflowSelector = {
  alias?: string | undefined;
  version?: string | number | undefined;
  run?: string | undefined;
  search?:
    | { experiment_ids: string[]; filter?: string | undefined; order_by?: string[] | undefined }
    | undefined;
};

export type MlflowGateSpec = MlflowSelector & {
  id: string;
  kind: 'mlflow';
  description?: string | undefined;
  tracking_uri?: string | undefined;
  model?: string | undefined;
  metric: string;
  step?: number | undefined;
  threshold?: number | undefined;
  min_absolute_change?: number | undefined;
  min_relative_change?: number | undefined;
  greater_is_better: boolean;
  baseline?: MlflowSelector | undefined;
  promote?: { alias: string; tags: Record<string, string> } | undefined;
  timeout_s: number;
};
