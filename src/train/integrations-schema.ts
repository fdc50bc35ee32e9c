import { z } from 'zod';
import { NOTIFICATION_TYPES } from '../types.ts';

/** The `integrations:` block of vt.yaml: MLflow and webhooks (see docs/integrations.md). */

const EndpointId = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,39}$/, 'an endpoint id: lowercase letters, digits, "-" or "_"');
const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,99}$/, 'the name of an environment variable');

export const WebhookSchema = z
  .object({
    id: EndpointId,
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('the receiver URL, when it holds no secret'),
    url_env: EnvName.optional().describe('or the environment variable that holds the URL'),
    secret_env: EnvName.optional().describe(
      'the environment variable holding the signing secret (whsec_...)',
    ),
    secret_file: z.string().min(1).optional().describe('or a file holding it, relative to vt.yaml'),
    events: z
      .array(z.enum(NOTIFICATION_TYPES))
      .min(1)
      .optional()
      .describe('which notifications to send (default: all)'),
  })
  .strict()
  .refine((w) => (w.url === undefined) !== (w.url_env === undefined), {
    message: 'a webhook needs exactly one of url and url_env',
  })
  .refine((w) => (w.secret_env === undefined) !== (w.secret_file === undefined), {
    message: 'a webhook needs exactly one of secret_env and secret_file',
  });

export const IntegrationsSchema = z
  .object({
    mlflow: z
      .object({
        tracking_uri: z
          .url({ protocol: /^https?$/ })
          .optional()
          .describe('default: MLFLOW_TRACKING_URI'),
        guard: z
          .array(z.object({ model: z.string().min(1), alias: z.string().min(1) }).strict())
          .default([])
          .describe('registered-model aliases the guard watches, besides those promotion gates move'),
      })
      .strict()
      .optional(),
    webhooks: z.array(WebhookSchema).default([]),
    notifications: z
      .object({
        drift: z
          .array(z.string().min(1))
          .default([])
          .describe('metric expressions that count as drift when they hold (e.g. "psi > 0.2")'),
        budget_warn_at: z
          .number()
          .gt(0)
          .lte(1)
          .default(0.8)
          .describe("share of the project's budget spent by sessions that sends a warning"),
      })
      .strict()
      .default({ drift: [], budget_warn_at: 0.8 }),
  })
  .strict();
export type IntegrationsSpec = z.infer<typeof IntegrationsSchema>;
export type WebhookSpec = z.infer<typeof WebhookSchema>;
