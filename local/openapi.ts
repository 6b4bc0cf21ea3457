import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from '../functions/openapi/document.js';
import { typescriptOf } from '../functions/openapi/typescript.js';

/**
 * `npm run openapi`: writes openapi.json (the API's OpenAPI 3.1 document, from the routes' zod schemas)
 * and client/api-types.ts (the client's types, from that document). `-- --check` writes nothing and
 * exits 1 if either is stale (a test runs the same check).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const GENERATED_FILES = {
  'openapi.json': () => `${JSON.stringify(theDocument(), null, 2)}\n`,
  'client/api-types.ts': () => typescriptOf(theDocument()),
};

/** Both files come from one build of the document. */
let built: Record<string, unknown> | undefined;
function theDocument(): Record<string, unknown> {
  built ??= buildOpenApiDocument();
  return built;
}

/** The generated files whose committed text differs from what the schemas give now. */
export function staleGeneratedFiles(root = ROOT): string[] {
  return Object.entries(GENERATED_FILES)
    .filter(([file, generate]) => readOrEmpty(`${root}/${file}`) !== generate())
    .map(([file]) => file);
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleGeneratedFiles();
    if (stale.length > 0) {
      console.error(`Stale: ${stale.join(', ')}. Run: npm run openapi`);
      process.exit(1);
    }
    console.log('openapi.json and client/api-types.ts are up to date');
  } else {
    for (const [file, generate] of Object.entries(GENERATED_FILES)) {
      writeFileSync(`${ROOT}/${file}`, generate());
      console.log(`Wrote ${file}`);
    }
  }
}
