// Validation cost per resource (the @medplum/core validator plus our checks): the largest share of
// per-entry time in Bundle ingest. A figure to watch, printed rather than asserted in a timed test.
import { validateResource, warmUpValidation } from '../src/validation/validate-resource.js';
import { clone, validImmunization, validPatient } from '../src/validation/test-fixtures.js';

warmUpValidation();
for (const [name, resource] of [['Immunization', validImmunization], ['Patient', validPatient]] as const) {
  const copy = clone(resource);
  for (let i = 0; i < 500; i++) validateResource(copy, { resourceType: name });
  const runs = 5000;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < runs; i++) validateResource(copy, { resourceType: name });
  const wall = (performance.now() - start) / runs;
  const used = process.cpuUsage(cpu);
  console.log(`validateResource(${name}): ${(wall * 1000).toFixed(0)} µs wall, ${((used.user + used.system) / runs).toFixed(0)} µs CPU per call (${runs} runs)`);
}
