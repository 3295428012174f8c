/**
 * Constrained decoding: JSON Schema / JSON object constraints on generated tokens (structured outputs
 * and forced tool calls). The engine takes a plain-data {@link ConstraintSpec} in a GenerationRequest; each
 * sequence builds a {@link TokenConstraint} that masks the logits before sampling.
 */
export { type ConstraintSpec, type ConstraintLimits, type JsonSchema, ConstraintError, DEFAULT_CONSTRAINT_LIMITS } from './spec.ts';
export {
  type TokenConstraint,
  type CompiledConstraint,
  ConstraintViolation,
  compileConstraint,
  createConstraint,
} from './constraint.ts';
export { SCHEMA_LIMITS, checkSchemaDocument } from './bounds.ts';
export { type TokenVocabulary, getTokenVocabulary, buildVocabulary } from './vocab.ts';
