// Dependency rules for src/ (run by src/architecture.test.ts, so `npm test` enforces them).
// Data flows one way: http → pipeline → interactions/operations → rules → store. Folder-level
// cycles (two top-level folders importing each other, directly or through others) are checked by
// the test from depcruise's module graph; these rules catch module cycles and reaches upward.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other, directly or through others.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'composition-on-top',
      severity: 'error',
      comment: 'Only entry points (src/server.ts, command-line tools) use the composition in src/app/: features never import it.',
      from: { path: '^src/', pathNot: ['^src/app/', '^src/server\\.ts$', '/cli\\.ts$'] },
      to: { path: ['^src/app/', '^src/server\\.ts$'] },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      comment: 'Production modules do not import tests or test helpers.',
      from: { path: '^src/', pathNot: ['\\.test\\.ts$', 'test-', 'fixture', 'bench'] },
      to: { path: ['^test/', '\\.test\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '\\.test\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
    // Imports name the compiled `.js`; the sources are `.ts`.
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
