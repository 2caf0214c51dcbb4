// Which handler serves what. The pipeline knows no feature folder: the server's composition
// (src/app/) registers every interaction handler, every operation ($validate, $match, $export…)
// and the Bundle handler here, the way Medplum's router.add does.
import { methodNotAllowed, notFound } from '../fhir/outcome.js';
import type { FhirMethod, Interaction, Permission } from '../fhir/request.js';
import type { Handler } from '../interactions/types.js';

export type OperationLevel = 'system' | 'type' | 'instance';

export interface OperationRegistration {
  /** The operation's name without the dollar, e.g. `everything`. */
  name: string;
  /** Where it is served: `[base]/$name`, `[base]/[type]/$name`, `[base]/[type]/[id]/$name`. */
  levels: readonly OperationLevel[];
  /** Resource types of the type/instance levels (absent: every supported type). */
  types?: readonly string[];
  /** HTTP methods it answers (HEAD is served as GET). */
  methods: readonly FhirMethod[];
  handler: Handler;
  /**
   * What the caller's scopes must grant on the resource type (every supported type at system
   * level) before the handler runs. Absent: src/auth/scopes.ts permissionsFor decides. An empty
   * list means the handler checks scopes itself (bulk export does, per exported type).
   */
  permissions?: readonly Permission[];
  /**
   * Resource types the permissions are needed on besides the addressed one (at system level:
   * instead of every supported type), e.g. an operation that reads a patient's Immunizations.
   */
  scopeTypes?: readonly string[];
  /** Canonical URL of its OperationDefinition (listed in the CapabilityStatement). */
  definition?: string;
}

/**
 * A resource type the server does not store but answers from elsewhere, read by id only:
 * `Practitioner`, the people of the sign-in server (src/signin), so that the `fhirUser` of their
 * tokens resolves. Its handler decides who may read what (no type scope is asked for).
 */
export interface DirectoryTypeRegistration {
  type: string;
  /** Serves `GET [base]/[type]/[id]`. */
  read: Handler;
  /** Serves `GET [base]/[type]?…` when the type can be searched (OperationDefinition by url); none: 404. */
  search?: Handler;
}

/** Interactions whose handler the composition provides (`capabilities` included). */
export type HandledInteraction = Exclude<Interaction, 'operation'>;

export class HandlerRegistry {
  private readonly interactions = new Map<HandledInteraction, Handler>();
  private readonly operations: OperationRegistration[] = [];
  private readonly directoryTypes = new Map<string, DirectoryTypeRegistration>();

  /** Registers the handler of an interaction (read, create, batch…); once per interaction. */
  interaction(interaction: HandledInteraction, handler: Handler): this {
    if (this.interactions.has(interaction)) throw new Error(`The ${interaction} interaction is registered twice`);
    this.interactions.set(interaction, handler);
    return this;
  }

  /** Registers a type read from a directory rather than the store (see DirectoryTypeRegistration). */
  directoryType(registration: DirectoryTypeRegistration): this {
    if (this.directoryTypes.has(registration.type)) throw new Error(`The directory type ${registration.type} is registered twice`);
    this.directoryTypes.set(registration.type, registration);
    return this;
  }

  /** The directory type of this name, if one is registered. */
  findDirectoryType(type: string | undefined): DirectoryTypeRegistration | undefined {
    return type === undefined ? undefined : this.directoryTypes.get(type);
  }

  /** Registers an operation; a name may be registered several times for different levels or types. */
  operation(registration: OperationRegistration): this {
    for (const level of registration.levels) {
      const clash = this.operations.find(
        (o) =>
          o.name === registration.name &&
          o.levels.includes(level) &&
          (!o.types || !registration.types || o.types.some((t) => registration.types?.includes(t)))
      );
      if (clash) throw new Error(`$${registration.name} is registered twice at the ${level} level`);
    }
    this.operations.push(registration);
    return this;
  }

  /** Every registered operation, in registration order (the CapabilityStatement test reads it). */
  registeredOperations(): readonly OperationRegistration[] {
    return this.operations;
  }

  interactionHandler(interaction: HandledInteraction): Handler {
    const handler = this.interactions.get(interaction);
    if (!handler) throw notFound(`This server does not support the ${interaction} interaction`);
    return handler;
  }

  /** The operation serving `$name` at a level (and type); 404 or 405 otherwise. */
  findOperation(name: string, level: OperationLevel, method: FhirMethod, resourceType?: string): OperationRegistration {
    const atLevel = this.operations.filter((o) => o.name === name && o.levels.includes(level));
    if (atLevel.length === 0) throw notFound(`Operation $${name} is not supported at the ${level} level`);
    const forType = resourceType ? atLevel.filter((o) => !o.types || o.types.includes(resourceType)) : atLevel;
    if (forType.length === 0) throw notFound(`Operation $${name} is not defined on ${resourceType}`);
    const verb = method === 'HEAD' ? 'GET' : method;
    const registration = forType.find((o) => o.methods.includes(verb));
    if (!registration) {
      const methods = [...new Set(forType.flatMap((o) => o.methods))];
      throw methodNotAllowed(`$${name} answers ${methods.join(', ')}`, methods);
    }
    return registration;
  }

  /** Every registered operation (for the CapabilityStatement). */
  listOperations(): readonly OperationRegistration[] {
    return this.operations;
  }
}
