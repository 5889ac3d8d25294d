import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'libs/*/dist/', 'examples/*/dist/', 'src/metadata.ts', '.data/', 'test/artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: false },
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', globalThis: 'readonly', AbortController: 'readonly', Headers: 'readonly', Response: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Nest's dependency injection needs value imports of injected classes (decorator metadata):
      // no type-import rule here. no-useless-assignment does not see uses inside decorators.
      'no-useless-assignment': 'off',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through AppConfig (src/config): only the entry points read process.env.' },
      ],
    },
  },
  {
    // Entry points; the MCP client library, a package of its own whose configuration defaults to process.env; the examples.
    files: [
      'src/main.ts',
      'src/audit/cli.ts',
      'src/data-source.ts',
      'src/database/migrate.ts',
      'src/database/embedded-postgres.ts',
      'test/**',
      'scripts/**',
      'bench/**',
      'jest.config.mjs',
      'libs/mcp-auth/src/config.ts',
      'examples/**',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // Browser tests: functions passed to page.evaluate() run in the page.
    files: ['test/browser/**'],
    languageOptions: {
      globals: { document: 'readonly', window: 'readonly', navigator: 'readonly', localStorage: 'readonly', sessionStorage: 'readonly', getComputedStyle: 'readonly' },
    },
  },
  {
    files: ['test/**', '**/*.spec.ts', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
