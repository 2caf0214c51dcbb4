// CodeSystem/iis-rule: the rule codes every OperationOutcome of a refused or warned write carries in
// `issue.details.coding` (system https://iis-fhir-server.org/fhir/CodeSystem/iis-rule, CONTRACT.md
// "Rule codes"), published in profiles/CodeSystem-iis-rule.json. It was only a file in the
// repository: a client or validator resolving the system of those codings at the server found no
// CodeSystem (`CodeSystem?url=…` empty, `$lookup` 404). Stored like CodeSystem/cdsi-observation, so
// it is read, searched and looked up like the vaccine code sets. The file is the source of truth: on
// start the stored copy is written again when its content differs from the file's.
import { readFileSync } from 'node:fs';
import type { CodeSystem } from '@medplum/fhirtypes';
import { extractSearchIndex } from '../search/extract.js';
import { VersionConflictError, type Store } from '../store/store.js';

const RULE_CODE_SYSTEM_FILE = new URL('../../profiles/CodeSystem-iis-rule.json', import.meta.url);

export function ruleCodeSystem(): CodeSystem {
  return JSON.parse(readFileSync(RULE_CODE_SYSTEM_FILE, 'utf8')) as CodeSystem;
}

/** The content that decides whether the stored copy is the file's (the store adds meta). */
function contentOf(codeSystem: CodeSystem): string {
  const { meta: _meta, ...content } = codeSystem;
  return JSON.stringify(content);
}

/**
 * Writes CodeSystem/iis-rule when the store lacks it or holds other content. Answers whether it
 * wrote. Safe with several processes starting at once: the write is conditional on the version
 * read, and a process that loses the race leaves it.
 */
export async function syncRuleCodeSystem(store: Store, file: CodeSystem = ruleCodeSystem()): Promise<boolean> {
  const id = file.id as string;
  const current = await store.read('CodeSystem', id);
  const live = current && !current.deleted ? (current.resource as CodeSystem | undefined) : undefined;
  if (live && contentOf(live) === contentOf(file)) return false;
  try {
    await store.write({ resourceType: 'CodeSystem', id, resource: file, ifVersion: live ? current!.versionId : 'absent', index: extractSearchIndex(file) });
    return true;
  } catch (err) {
    if (err instanceof VersionConflictError) return false;
    throw err;
  }
}
