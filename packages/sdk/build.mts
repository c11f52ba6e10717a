/**
 * Builds @headroom/sdk from the repository's own sources (src/sdk and what it imports from
 * src/telemetry and src/errors), so that an app installs the SDK and OpenTelemetry, never the
 * server: one bundle per module system (dist/esm for `import`, dist/cjs for `require`), each with
 * the declarations of the SDK's door. OpenTelemetry stays external: the app shares its copy.
 *
 * Fails when the bundle needs a package this package.json does not declare, when a declared range
 * differs from the server's (both are tested with one lock file), or when the versions differ.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';
import ts from 'typescript';

interface PackageJson {
  version: string;
  dependencies: Record<string, string>;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const entry = join(root, 'src', 'sdk', 'index.ts');
const dist = join(here, 'dist');
const sdkPackage = readJson(join(here, 'package.json'));
const serverPackage = readJson(join(root, 'package.json'));

function readJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, 'utf8')) as PackageJson;
}

function fail(message: string): never {
  process.stderr.write(`packages/sdk build: ${message}\n`);
  process.exit(1);
}

if (sdkPackage.version !== serverPackage.version) {
  fail(`version ${sdkPackage.version} differs from the repository's ${serverPackage.version}`);
}
for (const [name, range] of Object.entries(sdkPackage.dependencies)) {
  if (serverPackage.dependencies[name] !== range) {
    fail(
      `${name} is ${range} here but ${serverPackage.dependencies[name] ?? 'absent'} in the repository's package.json`,
    );
  }
}

rmSync(dist, { recursive: true, force: true });

const builtins = new Set(builtinModules);
const isExternal = (id: string): boolean =>
  id.startsWith('node:') || builtins.has(id) || Object.hasOwn(sdkPackage.dependencies, packageName(id));
const imported = new Set<string>();

for (const format of ['esm', 'cjs'] as const) {
  const outDir = join(dist, format);
  await build({
    input: entry,
    platform: 'node',
    logLevel: 'warn',
    // headroom's modules do nothing when loaded, so what the SDK does not use (the forecasting core
    // behind the Pacific-midnight helper, for one) is left out.
    treeshake: { moduleSideEffects: false },
    external: (id) => {
      const external = !id.startsWith('.') && !id.startsWith('/') && isExternal(id);
      if (external) imported.add(id);
      return external;
    },
    output: { format, file: join(outDir, 'index.js') },
  });
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify({ type: format === 'esm' ? 'module' : 'commonjs' })}\n`,
  );
}

// Anything the bundle still pulls in from node_modules that is not a declared dependency was bundled:
// a server-side package reached through an import chain would show up here.
for (const format of ['esm', 'cjs'] as const) {
  const code = readFileSync(join(dist, format, 'index.js'), 'utf8');
  if (/node_modules/.test(code))
    fail(`the ${format} bundle contains code from node_modules; an import reaches past OpenTelemetry`);
}
for (const id of imported) {
  if (
    !id.startsWith('node:') &&
    !builtins.has(id) &&
    !Object.hasOwn(sdkPackage.dependencies, packageName(id))
  ) {
    fail(`the bundle imports ${id}, which package.json does not declare`);
  }
}

emitDeclarations(join(dist, 'types'));
for (const format of ['esm', 'cjs'] as const)
  cpSync(join(dist, 'types'), join(dist, format), { recursive: true });
rmSync(join(dist, 'types'), { recursive: true, force: true });

process.stdout.write(`packages/sdk: built dist/esm and dist/cjs from ${relative(root, entry)}\n`);

function packageName(id: string): string {
  const parts = id.split('/');
  return id.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? id);
}

/**
 * Declarations of the entry and of every source file its declarations import, laid out as under
 * src/ (sdk/index.d.ts is the door), with `.js` specifiers.
 */
function emitDeclarations(outDir: string): void {
  const configPath = join(root, 'tsconfig.json');
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  if (config === undefined) fail('could not read tsconfig.json');
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    rootDir: join(root, 'src'),
    outDir,
    rewriteRelativeImportExtensions: true,
  };
  const program = ts.createProgram([entry], options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    fail(
      ts.formatDiagnostics(diagnostics, {
        ...ts.sys,
        getCanonicalFileName: (f) => f,
        getNewLine: () => '\n',
      }),
    );
  }
  // Declarations keep the sources' `.ts` specifiers; the published files are `.js`.
  const written = new Map<string, string>();
  program.emit(undefined, (fileName, text) =>
    written.set(fileName, text.replace(/(['"])(\.\.?\/[^'"]*)\.ts\1/g, '$1$2.js$1')),
  );

  // Keep only the declarations reachable from the door: the program also holds the server modules
  // that the SDK's sources reach for values (never for types the app sees).
  const reachable = new Set<string>();
  const visit = (fileName: string): void => {
    if (reachable.has(fileName)) return;
    const text = written.get(fileName);
    if (text === undefined) fail(`no declaration emitted for ${relative(outDir, fileName)}`);
    reachable.add(fileName);
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const specifier = match[1] ?? '';
      if (specifier.startsWith('.')) {
        visit(join(dirname(fileName), specifier.replace(/\.js$/, '.d.ts')));
      } else if (!isExternal(specifier)) {
        fail(
          `the declarations of ${relative(outDir, fileName)} import ${specifier}, which is not a dependency`,
        );
      }
    }
  };
  visit(join(outDir, 'sdk', 'index.d.ts'));
  for (const fileName of reachable) {
    mkdirSync(dirname(fileName), { recursive: true });
    writeFileSync(fileName, written.get(fileName) ?? '');
  }
}
