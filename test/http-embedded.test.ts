import { runDataSharingContract } from './data-sharing-contract.js';
import { runConcurrencyContract, runHttpContract } from './http-contract.js';
import { runWriteEquivalenceContract } from './write-equivalence-contract.js';

runHttpContract('embedded');
runConcurrencyContract('embedded');
runDataSharingContract('embedded');
runWriteEquivalenceContract('embedded');
