import { runConcurrencyContract, runHttpContract } from './http-contract.js';

runHttpContract('embedded');
runConcurrencyContract('embedded');
