import * as z from 'zod/mini';
import { jsonObject } from '../http/schemas.js';

/**
 * Zod schemas as OpenAPI 3.1 schemas (JSON Schema 2020-12), with zod 4's own converter. Shapes named
 * with `meta({ id })` go to `components/schemas` once and are referenced from everywhere else.
 */
export type JsonSchema = Record<string, unknown>;

/** `input`: what a client sends (defaults make a field optional); `output`: what the server reads or answers. */
export type Side = 'input' | 'output';

export class SchemaCollector {
  readonly components: Record<string, JsonSchema> = {};

  /** The schema of `schema` on one side; a named schema becomes a `$ref` to its component. */
  schemaOf(schema: z.ZodMiniType, side: Side): JsonSchema {
    const converted = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: side,
      unrepresentable: 'any',
      override: describeCustomSchemas,
    }) as JsonSchema;
    const { $defs, $schema: _dialect, ...root } = converted;
    for (const [name, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      this.components[name] = tidy(definition);
    }
    // A named root comes back as a `$ref` to its own definition.
    return tidy(root);
  }

  /** Resolves a `$ref` made by this collector (for building examples). */
  resolve(schema: JsonSchema): JsonSchema {
    const ref = schema.$ref;
    if (typeof ref !== 'string') return schema;
    return this.components[ref.slice(ref.lastIndexOf('/') + 1)] ?? {};
  }
}

/** zod cannot describe a custom check; the one the routes use is "a JSON object". */
function describeCustomSchemas(context: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  if (context.zodSchema === jsonObject()) {
    context.jsonSchema.type = 'object';
    context.jsonSchema.description ??= 'A JSON object';
  }
}

/**
 * Points `$defs` references at components; drops `additionalProperties: false` (answers may gain fields,
 * and clients in other languages should not reject them) and the safe-integer bounds zod puts on every
 * `int()` (noise in a reference).
 */
function tidy(schema: JsonSchema): JsonSchema {
  return JSON.parse(
    JSON.stringify(schema, (key, value) => (isNoise(key, value) ? undefined : value)),
    (key, value) =>
      key === '$ref' && typeof value === 'string'
        ? value.replace('#/$defs/', '#/components/schemas/')
        : value,
  ) as JsonSchema;
}

function isNoise(key: string, value: unknown): boolean {
  if (key === 'additionalProperties') return value === false;
  if (key === 'minimum' || key === 'maximum') return Math.abs(value as number) === Number.MAX_SAFE_INTEGER;
  return false;
}

/** Well-known string patterns and a value that fits each, for generated examples. */
const PATTERN_EXAMPLES: [RegExp, string][] = [
  [/0-9A-HJKMNP-TV-Z/, '01KDX8S4G0R8Q1Z6V3B2N9M7TA'],
  [/A-Za-z0-9_\.@/, 'alice'],
];

/** An example value built from a schema: its own example where it has one, else one that fits its type. */
export function exampleOf(schema: JsonSchema, collector: SchemaCollector, depth = 0): unknown {
  const resolved = collector.resolve(schema);
  if (Array.isArray(resolved.examples) && resolved.examples.length > 0) return resolved.examples[0];
  if ('default' in resolved) return resolved.default;
  if ('const' in resolved) return resolved.const;
  if (Array.isArray(resolved.enum)) return resolved.enum[0];
  if (depth > 8) return null;
  const options = (resolved.anyOf ?? resolved.oneOf) as JsonSchema[] | undefined;
  if (options?.[0]) return exampleOf(options[0], collector, depth + 1);
  const type = Array.isArray(resolved.type) ? resolved.type[0] : resolved.type;
  switch (type) {
    case 'object': {
      const properties = (resolved.properties ?? {}) as Record<string, JsonSchema>;
      return Object.fromEntries(
        Object.entries(properties).map(([name, property]) => [
          name,
          exampleOf(property, collector, depth + 1),
        ]),
      );
    }
    case 'array':
      return resolved.items ? [exampleOf(resolved.items as JsonSchema, collector, depth + 1)] : [];
    case 'string': {
      const pattern = String(resolved.pattern ?? '');
      return PATTERN_EXAMPLES.find(([known]) => known.test(pattern))?.[1] ?? 'string';
    }
    case 'integer':
    case 'number':
      return typeof resolved.minimum === 'number' ? resolved.minimum : 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return {};
  }
}
