// A worker thread of the structural-validation pool (structural-pool.ts): validates each resource
// it is sent with the same function as the request thread and answers its issues, with the
// positions of those that mark a malformed request (the mark is kept by object identity, which
// does not cross threads: the pool sets it again on its side).
import { parentPort } from 'node:worker_threads';
import { isMalformedRequestIssue, validateResource, warmUpValidation, type ValidationExpectations } from './validate-resource.js';

interface Job {
  id: number;
  input: unknown;
  expect: ValidationExpectations;
}

warmUpValidation();
parentPort?.postMessage('ready');

parentPort?.on('message', (job: Job) => {
  try {
    const issues = validateResource(job.input, job.expect);
    const malformed: number[] = [];
    issues.forEach((issue, i) => {
      if (isMalformedRequestIssue(issue)) malformed.push(i);
    });
    parentPort?.postMessage({ id: job.id, issues, malformed });
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
});
