import type { Engine } from '../engine/engine.ts';
import type { IntegrationsConfig } from './config.ts';
import { mlflowPromotionRule } from './mlflow/writeback.ts';
import { webhookOutboxRule } from './webhooks/notification.ts';

/**
 * Register the integrations' outbox rules on an engine, so their rows are written in the same
 * transaction as the events that cause them, whichever process commits the events. MLflow write-backs
 * need no configuration (the gate's evidence names the server); webhooks need an endpoint.
 */
export function registerIntegrations(engine: Engine, config: IntegrationsConfig): void {
  engine.addOutboxRule(mlflowPromotionRule());
  if (config.endpoints.length)
    engine.addOutboxRule(
      webhookOutboxRule({
        endpoints: config.endpoints,
        drift: config.drift,
        budgetWarnAt: config.budgetWarnAt,
      }),
    );
}
