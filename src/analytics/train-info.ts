/** What analytics needs of a train: its phases in order and which one is deployment. */
export interface TrainInfo {
  hash: string;
  name: string;
  phases: { id: string; name: string }[];
  /** The phase whose first forward exit counts as deployment, or null when the train has none. */
  deployment: string | null;
}

/**
 * Read a stored train body (JSON). The deployment phase is the one the train names under
 * `deployment:`, else a phase with the id `deployment`.
 */
export function trainInfo(hash: string, body: string): TrainInfo {
  const t = JSON.parse(body) as {
    name?: string;
    deployment?: string;
    phases?: { id: string; name?: string }[];
  };
  const phases = (t.phases ?? []).map((p) => ({ id: p.id, name: p.name ?? p.id }));
  const named = t.deployment && phases.some((p) => p.id === t.deployment) ? t.deployment : null;
  return {
    hash,
    name: t.name ?? hash.slice(0, 12),
    phases,
    deployment: named ?? (phases.some((p) => p.id === 'deployment') ? 'deployment' : null),
  };
}
