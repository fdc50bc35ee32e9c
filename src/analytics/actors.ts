/** Who did something: an agent (or the machinery driving agents), or a person. */
export type ActorKind = 'agent' | 'person';

/** Actors the product itself writes as: the autopilot loop, the conductor's handoffs, the GitHub source. */
const MACHINE_ACTORS = new Set(['autopilot', 'conductor', 'github']);

/**
 * Agents act as `agent:<role>` (an executor working a ticket); the autopilot and other machinery
 * count with them. Everyone else is a person.
 */
export function actorKind(actor: string): ActorKind {
  return actor.startsWith('agent:') || MACHINE_ACTORS.has(actor) ? 'agent' : 'person';
}
