import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/*
 * The folders of src/ import one another without a loop: a feature can be read, tested and changed
 * from its folder and the ones below it. src/common/ (shared by every feature) imports none of them.
 * Imports are read with TypeScript's own scanner (ts.preProcessFile), which knows comments, strings
 * and template literals: `import … from`, `import type`, `export … from`, `import '…'`, `import('…')`
 * and `import('…').T` in types all count. A loop through types only is a loop all the same: the
 * folders cannot be understood apart.
 */

const SRC = dirname(fileURLToPath(import.meta.url));
/** The files of src/ itself: the entry points and the composition root (app, module, Swagger, entity list). */
const ROOT = '(src root)';
/** The folders below the features: the only ones src/common/ may import. */
const BELOW_FEATURES = ['config', 'database'];

/** One import of a file of src/ into another folder of src/ (paths relative to src/). */
interface Import {
  from: string;
  to: string;
  file: string;
  specifier: string;
}

/** The folder of a path relative to src/: its first segment, or ROOT for a file of src/ itself. */
function folderOf(path: string): string {
  const parts = path.split(sep);
  return parts.length > 1 ? parts[0] : ROOT;
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFilesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The module specifiers a TypeScript text imports, in any of the ways listed above. */
function specifiersOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((imported) => imported.fileName);
}

/** Every relative import of every .ts file under src/ that lands in another folder of src/. */
function crossFolderImports(src: string): Import[] {
  const imports: Import[] = [];
  for (const path of tsFilesUnder(src)) {
    const file = relative(src, path);
    for (const specifier of specifiersOf(readFileSync(path, 'utf8'))) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(src, resolve(dirname(path), specifier));
      if (target.startsWith('..')) continue; // libs/, outside src/
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from !== to) imports.push({ from, to, file, specifier });
    }
  }
  return imports;
}

/** Each loop of the graph, as a path that ends where it starts (one per strongly connected set of folders). */
function loopsOf(edges: ReadonlyArray<readonly [string, string]>): string[][] {
  const next = new Map<string, string[]>();
  for (const [from, to] of edges) {
    if (!next.has(from)) next.set(from, []);
    if (!next.has(to)) next.set(to, []);
    if (!next.get(from)!.includes(to)) next.get(from)!.push(to);
  }
  for (const targets of next.values()) targets.sort();

  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const to of next.get(node)!) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (stack.includes(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || next.get(node)!.includes(node)) components.push(component);
    }
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);

  // In each component, the shortest way back to its first folder (breadth first, inside the component).
  return components.map((component) => {
    const start = [...component].sort()[0];
    const inside = new Set(component);
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const node = queue.shift()!;
      for (const to of next.get(node)!) {
        if (!inside.has(to) || previous.has(to)) continue;
        previous.set(to, node);
        if (to === start) queue.length = 0;
        else queue.push(to);
      }
    }
    const path = [start];
    for (let node = previous.get(start)!; node !== start; node = previous.get(node)!) path.unshift(node);
    return [start, ...path];
  });
}

/** A loop, with the imports that make each of its steps. */
function describeLoop(loop: string[], imports: Import[]): string {
  const steps = loop.slice(1).map((to, i) => {
    const from = loop[i];
    const by = imports.filter((imp) => imp.from === from && imp.to === to).map((imp) => `${imp.file} imports '${imp.specifier}'`);
    return `  ${from} -> ${to}: ${by.slice(0, 3).join('; ')}${by.length > 3 ? `; and ${by.length - 3} more` : ''}`;
  });
  return `${loop.join(' -> ')}\n${steps.join('\n')}`;
}

describe('folders of src/', () => {
  const imports = crossFolderImports(SRC);
  const edges = [...new Set(imports.map((imp) => `${imp.from} -> ${imp.to}`))].map((edge) => edge.split(' -> ') as [string, string]);

  it('are read with their imports: values, types only, dynamic', () => {
    expect(imports).toContainEqual({
      from: 'users',
      to: 'access',
      file: join('users', 'users.controller.ts'),
      specifier: '../access/access.decorator.js',
    });
    expect(imports).toContainEqual({
      from: 'tokens',
      to: 'access',
      file: join('tokens', 'tokens.service.ts'),
      specifier: '../access/principal.js',
    });
    expect(imports).toContainEqual({ from: ROOT, to: 'audit', file: 'metadata.ts', specifier: './audit/audit.dto.js' });
  });

  it('import one another without a loop', () => {
    const loops = loopsOf(edges).map((loop) => describeLoop(loop, imports));
    expect(loops).toEqual([]);
  });

  it('never import the files of src/ itself (entry points and composition root)', () => {
    const intoRoot = imports.filter((imp) => imp.to === ROOT).map((imp) => `${imp.file} imports '${imp.specifier}'`);
    expect(intoRoot).toEqual([]);
  });

  it('src/common/ imports no feature', () => {
    const features = imports
      .filter((imp) => imp.from === 'common' && !BELOW_FEATURES.includes(imp.to))
      .map((imp) => `${imp.file} imports '${imp.specifier}'`);
    expect(features).toEqual([]);
  });
});

describe('specifiersOf', () => {
  it('reads every kind of import, and none in comments or strings', () => {
    const text = [
      "import { A } from './a.js';",
      "import type { B } from '../b/b.js';",
      'import {',
      '  C,',
      "} from './c.js';",
      "export { D } from './d.js';",
      "export * from './e.js';",
      "import './f.js';",
      "const g = await import('./g.js');",
      "type H = import('./h.js').H;",
      "// import { X } from './comment.js';",
      "/* export * from './block.js'; */",
      'const s = "import { Y } from \'./string.js\'";',
    ].join('\n');
    expect(specifiersOf(text)).toEqual(['./a.js', '../b/b.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js']);
  });
});

describe('loopsOf', () => {
  it('finds none in a graph without one', () => {
    expect(
      loopsOf([
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ]),
    ).toEqual([]);
  });

  it('names each loop, from its first folder back to it', () => {
    const loops = loopsOf([
      ['users', 'access'],
      ['access', 'auth'],
      ['auth', 'users'],
      ['auth', 'common'],
      ['tokens', 'audit'],
      ['audit', 'tokens'],
      ['common', 'common'],
    ]);
    expect([...loops].sort()).toEqual([
      ['access', 'auth', 'users', 'access'],
      ['audit', 'tokens', 'audit'],
      ['common', 'common'],
    ]);
  });
});
