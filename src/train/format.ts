/**
 * The shape a parsed train has: the fingerprint of its JSON Schema, input and output
 * (`test/train-format.test.ts` recomputes it, so a change to the schema fails until this is updated).
 * The store keeps it beside each train it stores; a stored train of this format, whose body hashes
 * to its name, is used as it is instead of being parsed again on every command.
 */
export const TRAIN_FORMAT = '46d2d9e77fd5099b';
