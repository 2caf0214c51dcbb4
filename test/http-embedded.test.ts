import { runDataSharingContract } from './data-sharing-contract.js';
import { runConcurrencyContract, runHttpContract } from './http-contract.js';

runHttpContract('embedded');
runConcurrencyContract('embedded');
runDataSharingContract('embedded');
