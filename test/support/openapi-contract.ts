import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { buildOpenApiDocument, UNROUTED_RESPONSES } from '../../functions/openapi/document.js';
import { HEALTH_ROUTE, ROUTES } from '../../functions/routes.js';

/**
 * The OpenAPI document as a contract the server's answers are held to: for a request (method and URL as
 * sent) and its answer, the operation the server routes it to (as the local server and API Gateway
 * match paths), then the answer's status must be one the operation documents, its body must validate
 * against that status's schema (JSON Schema 2020-12, with Ajv), and a status documented with a
 * Retry-After header must carry one. A request that reaches no operation must get one of the answers
 * the document lists for that (404, 405, 431). Every (operation, status) pair checked is recorded.
 */
type Json = Record<string, unknown>;

export interface ContractAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

const document = buildOpenApiDocument() as {
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, Json> }>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> };
};

const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
ajv.addSchema({ $id: 'openapi', components: { schemas: document.components.schemas } });

const OPERATIONS = [...ROUTES, { ...HEALTH_ROUTE, access: 'none' }].map((route) => ({
  method: route.method,
  pattern: new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`),
  operation: document.paths[route.path]?.[route.method.toLowerCase()],
  path: route.path,
}));

/** The (operation, status) pairs checked so far in this process, e.g. `sendMessage 201` or `(no operation) 404`. */
export const checkedPairs = new Set<string>();

const validators = new Map<string, ValidateFunction>();
function validatorFor(key: string, schema: Json): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    // The document's `#/components/...` references resolve in the schema registered as `openapi`.
    const text = JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/');
    validate = ajv.compile(JSON.parse(text) as Json);
    validators.set(key, validate);
  }
  return validate;
}

function resolveResponse(response: Json): Json {
  const ref = response.$ref;
  if (typeof ref !== 'string') return response;
  return document.components.responses[ref.slice(ref.lastIndexOf('/') + 1)] ?? {};
}

/** What in this answer the document does not allow (empty when it is documented). */
export function contractProblems(request: { method: string; url: string }, answer: ContractAnswer): string[] {
  const method = request.method.toUpperCase();
  let pathname: string;
  try {
    pathname = new URL(request.url, 'http://localhost').pathname;
  } catch {
    pathname = '';
  }
  const onPath = OPERATIONS.filter((o) => o.pattern.test(pathname));
  const match = onPath.find((o) => o.method === method);
  // 431 is answered while the request line is read, before any routing.
  if (!match?.operation || answer.status === 431) {
    const name = UNROUTED_RESPONSES[answer.status];
    const key = `(no operation) ${answer.status}`;
    if (!name)
      return [`${method} ${pathname} reached no operation and answered ${answer.status}, not documented`];
    checkedPairs.add(key);
    return bodyProblems(key, resolveResponse({ $ref: `#/components/responses/${name}` }), answer);
  }
  const { operationId, responses } = match.operation;
  const key = `${operationId} ${answer.status}`;
  const documented = responses[String(answer.status)];
  if (!documented) {
    return [
      `${operationId} answered ${answer.status}, which it does not document (${Object.keys(responses).join(', ')})`,
    ];
  }
  checkedPairs.add(key);
  return bodyProblems(key, resolveResponse(documented), answer);
}

function bodyProblems(key: string, response: Json, answer: ContractAnswer): string[] {
  const problems: string[] = [];
  const headers = (response.headers ?? {}) as Record<string, { required?: boolean }>;
  for (const [name, header] of Object.entries(headers)) {
    if (header.required && answer.headers[name.toLowerCase()] === undefined) {
      problems.push(`${key}: the ${name} header is missing`);
    }
  }
  const content = (response.content as Record<string, { schema: Json }> | undefined)?.['application/json'];
  if (!content) return problems;
  if (!(answer.headers['content-type'] ?? '').startsWith('application/json')) {
    problems.push(`${key}: content-type ${answer.headers['content-type']}, not application/json`);
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return [...problems, `${key}: the body is not JSON: ${answer.text.slice(0, 80)}`];
  }
  const validate = validatorFor(key, content.schema);
  if (!validate(body)) {
    problems.push(
      `${key}: the body does not match the document: ${ajv.errorsText(validate.errors)} in ${answer.text.slice(0, 200)}`,
    );
  }
  return problems;
}

/** Every documented (operation, status) pair of the document. */
export function documentedPairs(): string[] {
  return OPERATIONS.flatMap(({ operation }) =>
    operation ? Object.keys(operation.responses).map((status) => `${operation.operationId} ${status}`) : [],
  );
}

/**
 * What in a recorded example (functions/openapi/recorded-examples.json) the document does not allow: an
 * operation or status it does not have, or a body its schema refuses.
 */
export function exampleProblems(operationId: string, status: string, example: unknown): string[] {
  const found = OPERATIONS.find(({ operation }) => operation?.operationId === operationId)?.operation;
  if (!found) return [`${operationId}: no such operation`];
  const documented = found.responses[status];
  if (!documented) return [`${operationId} has no ${status} answer`];
  const answer = {
    status: Number(status),
    headers: { 'content-type': 'application/json' },
    text: JSON.stringify(example),
  };
  return bodyProblems(`${operationId} ${status} (recorded example)`, resolveResponse(documented), answer);
}

/** Every operationId of the document. */
export function operationIds(): string[] {
  return OPERATIONS.flatMap(({ operation }) => (operation ? [operation.operationId] : []));
}
