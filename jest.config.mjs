// Jest runs in its native ESM mode (NestJS 12 packages are ES modules);
// TypeScript is transpiled by SWC with decorator metadata, as Nest needs.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        keepClassNames: true,
      },
      module: { type: 'es6' },
      sourceMaps: 'inline',
    },
  ],
};

// CommonJS packages that require() an ESM-only dependency work on Node 20.19+
// (require(esm)) but not inside Jest's module runtime on Node 20: those few
// dependencies are compiled to CommonJS for the tests.
const ESM_ONLY_REQUIRED_FROM_CJS = ['content-disposition'];

const common = {
  transform: {
    ...transform,
    [`node_modules/(${ESM_ONLY_REQUIRED_FROM_CJS.join('|')})/.+\\.js$`]: ['@swc/jest', { module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY_REQUIRED_FROM_CJS.join('|')})/)`],
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // Sources import './x.js' (NodeNext); in tests the file is x.ts.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  // CommonJS packages that require() NestJS's ES modules (@nestjs/throttler): see test/support/esm-bridge/setup.mjs.
  resolver: '<rootDir>/test/support/esm-bridge/resolver.cjs',
  setupFiles: ['<rootDir>/test/support/esm-bridge/setup.mjs'],
};

/** @type {import('jest').Config} */
export default {
  rootDir: '.',
  testTimeout: 30000,
  // Keep-alive sockets of Node's fetch (undici) in some e2e files can outlive their test file by the
  // keep-alive timeout; every file closes its app, so the run is over when the last file ends.
  forceExit: true,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/libs/*/src/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
  ],
};
