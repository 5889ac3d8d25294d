// Generates src/metadata.ts with the @nestjs/swagger CLI plugin's metadata
// generator: DTO properties, their types, class-validator limits and the
// JSDoc comments/examples become OpenAPI schemas without @ApiProperty on
// every field. The app loads it with SwaggerModule.loadPluginMetadata, so
// the compiled app and the tests (transpiled by SWC) see the same document.
//
// Usage: node scripts/generate-swagger-metadata.mjs [--check]
//   --check  exits 1 when src/metadata.ts is not up to date (CI).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'src', 'metadata.ts');
const check = process.argv.includes('--check');
const before = (() => {
  try {
    return readFileSync(target, 'utf8');
  } catch {
    return '';
  }
})();

process.chdir(root);
const started = Date.now();
new PluginMetadataGenerator().generate({
  visitors: [
    new ReadonlyVisitor({
      introspectComments: true,
      classValidatorShim: true,
      pathToSource: join(root, 'src'),
      dtoFileNameSuffix: ['.dto.ts', '.view.ts'],
      controllerFileNameSuffix: ['.controller.ts'],
    }),
  ],
  outputDir: join(root, 'src'),
  filename: 'metadata.ts',
  tsconfigPath: 'tsconfig.build.json',
  printDiagnostics: false,
});
const after = readFileSync(target, 'utf8');
process.stderr.write(`swagger metadata: src/metadata.ts ${before === after ? 'unchanged' : 'updated'} (${Date.now() - started} ms)\n`);
if (check && before !== after) {
  process.stderr.write('src/metadata.ts was out of date: run `npm run swagger:metadata` and commit it\n');
  process.exit(1);
}
