// A worker thread of the structural-validation pool (structural-pool.ts): validates each resource
// it is sent with the same function as the request thread and answers its issues, with the
// positions of those that mark a malformed request (the mark is kept by object identity, which
// does not cross threads: the pool sets it again on its side).
// It also extracts search values (extractSearchIndex) when asked: see structural-pool.ts.
import { parentPort } from 'node:worker_threads';
import { extractSearchIndex } from '../search/extract.js';
import type { WorkerAnswer, WorkerRequest } from './structural-pool.js';
import { isMalformedRequestIssue, validateResource, warmUpValidation } from './validate-resource.js';

warmUpValidation();
parentPort?.postMessage('ready');

parentPort?.on('message', (job: WorkerRequest & { id: number }) => {
  let answer: WorkerAnswer;
  try {
    if (job.kind === 'index') {
      answer = { id: job.id, index: extractSearchIndex(job.resource) };
    } else {
      const issues = validateResource(job.input, job.expect);
      const malformed: number[] = [];
      issues.forEach((issue, i) => {
        if (isMalformedRequestIssue(issue)) malformed.push(i);
      });
      answer = { id: job.id, issues, malformed };
    }
  } catch (err) {
    answer = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(answer);
});
