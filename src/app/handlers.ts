// The server's composition of FHIR handlers: every interaction, the Bundle handler and every
// operation are registered here, from outside the pipeline (which imports no feature folder).
// To add an operation: write its handler (src/<capability>/<operation>.ts, a Handler that uses
// only its HandlerContext) and register it in registerOperations below.
import { bulkExportOperations } from '../bulk/operations.js';
import type { BulkExports } from '../bulk/service.js';
import { bundleHandler } from '../bundle/bundle.js';
import { history } from '../interactions/history.js';
import { read } from '../interactions/read.js';
import { search } from '../interactions/search.js';
import { vread } from '../interactions/vread.js';
import { executeWrite } from '../interactions/write-path.js';
import { healthCardsIssueOperation } from '../health-cards/issue.js';
import type { HealthCardIssuer } from '../health-cards/issuer.js';
import { revokeAfterMerge } from '../health-cards/merge-revocation.js';
import { healthCardsRevokeOperation } from '../health-cards/revoke.js';
import { healthLinkCreateOperation } from '../health-cards/link-create.js';
import { healthLinkRevokeOperation } from '../health-cards/link-revoke.js';
import { everythingOperation } from '../operations/everything.js';
import { immdsForecastOperation } from '../operations/immds-forecast.js';
import { matchOperation } from '../operations/match.js';
import { mergeOperationWith } from '../operations/merge.js';
import { validateOperation } from '../operations/validate.js';
import { HandlerRegistry } from '../pipeline/registry.js';
import { populationOperations } from '../population/async-jobs.js';
import { inThreadRunner, withCvxForNdcDoses } from '../population/forecast-runner.js';
import type { ForecastRunner } from '../population/forecast-runner.js';
import { practitionerRead, PRACTITIONER_TYPE } from '../signin/practitioner-read.js';
import type { UserDirectory } from '../signin/users.js';
import type { CodeSets } from '../terminology/code-sets.js';
import { lookupOperation } from '../terminology/lookup.js';
import { translateOperation } from '../terminology/translate.js';
import { validateCodeOperation } from '../terminology/validate-code.js';
import { operationDefinitionHandlers, OPERATION_DEFINITION_TYPE } from '../conformance/operation-definition-read.js';
import { operationDefinitionCanonicals } from './capability.js';
import { capabilities } from './metadata.js';

/** The services of this server process that operation handlers are built with. */
export interface HandlerServices {
  /** The vaccine code sets, kept current by TerminologySync. */
  codeSets: CodeSets;
  /** Bulk export jobs of this process. */
  bulk: BulkExports;
  /** The SMART Health Card issuer (keys in DATA_DIR). */
  healthCards: HealthCardIssuer;
  /** Runs population forecasts (src/population): in the request thread or on a worker pool. */
  forecasts?: ForecastRunner;
  /**
   * The people of the sign-in server (src/signin) and its issuer: `Practitioner/[id]` answers a
   * sign-in token's own fhirUser from them.
   */
  people?: { users: Pick<UserDirectory, 'get'>; issuer: string };
}

export function buildRegistry(services: HandlerServices): HandlerRegistry {
  const registry = new HandlerRegistry();
  registerInteractions(registry);
  registerOperations(registry, services);
  // The fhirUser of sign-in tokens resolves (src/signin/practitioner-read.ts).
  if (services.people) registry.directoryType({ type: PRACTITIONER_TYPE, read: practitionerRead(services.people.users, services.people.issuer) });
  // The definitions of the operations the CapabilityStatement lists resolve at this server
  // (src/conformance/operation-definition-read.ts).
  registry.directoryType({ type: OPERATION_DEFINITION_TYPE, ...operationDefinitionHandlers(operationDefinitionCanonicals()) });
  return registry;
}

function registerInteractions(registry: HandlerRegistry): void {
  registry
    .interaction('capabilities', capabilities)
    .interaction('read', read)
    .interaction('vread', vread)
    // Every write takes the one write path (src/interactions/write-path.ts), as Bundle entries do.
    .interaction('create', executeWrite)
    .interaction('update', executeWrite)
    .interaction('conditional-update', executeWrite)
    .interaction('patch', executeWrite)
    .interaction('conditional-patch', executeWrite)
    .interaction('delete', executeWrite)
    .interaction('conditional-delete', executeWrite)
    .interaction('search-type', search)
    .interaction('search-system', search)
    .interaction('history-instance', history)
    .interaction('history-type', history)
    .interaction('history-system', history)
    // POST [base]: batch and transaction Bundles (src/bundle).
    .interaction('batch', bundleHandler);
}

function registerOperations(registry: HandlerRegistry, services: HandlerServices): void {
  // Validation (src/operations): only reads.
  registry.operation({ name: 'validate', levels: ['type', 'instance'], methods: ['POST'], permissions: ['r'], handler: validateOperation });
  // Patient matching (src/matching, src/operations).
  registry.operation({ name: 'match', levels: ['type'], types: ['Patient'], methods: ['POST'], permissions: ['r', 's'], handler: matchOperation });
  // A merge revokes the health cards issued for the source record (src/health-cards/merge-revocation.ts).
  registry.operation({ name: 'merge', levels: ['type'], types: ['Patient'], methods: ['POST'], permissions: ['r', 'u'], handler: mergeOperationWith(revokeAfterMerge(services.healthCards)) });
  registry.operation({
    name: 'everything',
    levels: ['instance'],
    types: ['Patient'],
    methods: ['GET', 'POST'],
    permissions: ['r', 's'],
    handler: everythingOperation,
  });
  // CDC CDSi forecasting (src/forecast): history given in the request, or a stored patient's.
  registry.operation({
    name: 'immds-forecast',
    levels: ['system', 'instance'],
    types: ['Patient'],
    methods: ['GET', 'POST'],
    permissions: ['r'],
    scopeTypes: ['Immunization'],
    handler: immdsForecastOperation(services.codeSets),
  });
  // SMART Health Cards (src/health-cards): a signed copy of what a read of the patient shows.
  registry.operation({
    name: 'health-cards-issue',
    levels: ['instance'],
    types: ['Patient'],
    methods: ['POST'],
    permissions: ['r'],
    scopeTypes: ['Immunization'],
    handler: healthCardsIssueOperation(services.healthCards),
  });
  // Revoking a patient's cards (Card Revocation Lists at /.well-known/crl/{kid}.json): public
  // health, or the patient's managing facility, with update rights (the handler checks both).
  registry.operation({
    name: 'health-cards-revoke',
    levels: ['instance'],
    types: ['Patient'],
    methods: ['POST'],
    permissions: ['r', 'u'],
    scopeTypes: ['Immunization'],
    handler: healthCardsRevokeOperation(services.healthCards),
  });
  // SMART Health Links to a patient's card (manifest at /shl/{id}): made and revoked by whoever may
  // have the card ($health-cards-issue's rights; data sharing applies in the handler's reads).
  registry.operation({
    name: 'health-link-create',
    levels: ['instance'],
    types: ['Patient'],
    methods: ['POST'],
    permissions: ['r'],
    scopeTypes: ['Immunization'],
    handler: healthLinkCreateOperation(services.healthCards),
  });
  registry.operation({
    name: 'health-link-revoke',
    levels: ['instance'],
    types: ['Patient'],
    methods: ['POST'],
    permissions: ['r'],
    scopeTypes: ['Immunization'],
    handler: healthLinkRevokeOperation(services.healthCards),
  });
  // Population runs on the forecast (src/population): reminder/recall lists and coverage measures,
  // at once or (Prefer: respond-async) as jobs of the bulk worker, polled like $export.
  // NDC-only doses read as their CVX, as in $immds-forecast (src/terminology/forecast-codes.ts).
  const population = populationOperations(withCvxForNdcDoses(services.forecasts ?? inThreadRunner, services.codeSets), services.bulk);
  registry.operation({
    name: 'reminder-recall',
    levels: ['system'],
    methods: ['GET'],
    permissions: ['r', 's'],
    scopeTypes: ['Patient', 'Immunization'],
    handler: population.reminderRecall,
  });
  registry.operation({
    name: 'evaluate-measure',
    levels: ['instance'],
    types: ['Measure'],
    methods: ['GET', 'POST'],
    permissions: ['r', 's'],
    scopeTypes: ['Patient', 'Immunization'],
    handler: population.evaluateMeasure,
  });
  // Terminology (src/terminology), each on the resource types its OperationDefinition names.
  const { codeSets } = services;
  for (const [name, types, handler] of [
    ['lookup', ['CodeSystem'], lookupOperation(codeSets)],
    ['validate-code', ['CodeSystem', 'ValueSet'], validateCodeOperation(codeSets)],
    ['translate', ['ConceptMap'], translateOperation(codeSets)],
  ] as const) {
    registry.operation({ name, levels: ['type', 'instance'], types, methods: ['GET', 'POST'], permissions: ['r'], handler });
  }
  // Bulk Data export (src/bulk): the handlers check r+s on every exported type and job ownership.
  const bulk = bulkExportOperations(services.bulk);
  registry.operation({
    name: 'export',
    levels: ['system', 'type', 'instance'],
    types: ['Patient', 'Group'],
    methods: ['GET', 'POST'],
    permissions: [],
    handler: bulk.kickOff,
  });
  registry.operation({ name: 'export-poll-status', levels: ['system'], methods: ['GET', 'DELETE'], permissions: [], handler: bulk.status });
  registry.operation({ name: 'export-download', levels: ['system'], methods: ['GET'], permissions: [], handler: bulk.download });
}
