// Validation of submitted resources: structure + terminology (validate-resource.ts), run in the
// request thread or a worker pool (structural-pool.ts), and the IIS business-rule hook with the
// 400/422 decision (business-rules.ts).
export {
  MAX_DEPTH,
  MAX_NODES,
  isMalformedRequestIssue,
  validateResource,
  warmUpValidation,
} from './validate-resource.js';
export type { ValidationExpectations } from './validate-resource.js';
export { RuleRegistry, rejectionStatus, validateWrite } from './business-rules.js';
export type { BusinessRule, RuleContext } from './business-rules.js';
export { StructuralValidationPool, inThreadValidator } from './structural-pool.js';
export type { StructuralValidation, StructuralValidator } from './structural-pool.js';
export { expandValueSet } from './terminology.js';
export type { Expansion } from './terminology.js';
