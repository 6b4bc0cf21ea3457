import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildOpenApiDocument } from '../functions/openapi/document.js';

/**
 * The API's documentation on `npm start`: `/openapi.json` (the generated OpenAPI document, exactly the
 * committed openapi.json) and `/docs`, an
 * interactive reference (Swagger UI from the installed swagger-ui-dist package: no CDN, works offline).
 * Neither needs a token.
 */
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The files of swagger-ui-dist the page loads, by the name it asks for under /docs/. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Roaming API reference</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

/**
 * Starts Swagger UI on the served document. A token entered under "Authorize" lives in this page only:
 * not kept in localStorage (a token lives up to 30 days, and anything the origin's scripts or another
 * user of the browser profile can read would keep it), and one an earlier version kept there is removed.
 * The document is the committed one (its first server is npm start's default address); the page puts its
 * own origin first, so "Try it out" reaches this server whatever its port.
 */
const INIT = `localStorage.removeItem('authorized');
fetch('/openapi.json')
  .then((answer) => answer.json())
  .then((spec) => {
    spec.servers = [{ url: window.location.origin, description: 'This server (the page you are on)' }, ...spec.servers];
    window.ui = SwaggerUIBundle({
      spec,
      dom_id: '#swagger-ui',
      deepLinking: true,
      persistAuthorization: false,
      displayOperationId: true,
    });
  });
`;

/** Answers the documentation paths; false for any other request (the API's). */
export function serveApiDocs(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/openapi.json') {
    send(res, 'application/json; charset=utf-8', theDocument());
  } else if (path === '/docs' || path === '/docs/') {
    send(res, 'text/html; charset=utf-8', PAGE);
  } else if (path === '/docs/init.js') {
    send(res, 'text/javascript; charset=utf-8', INIT);
  } else if (path.startsWith('/docs/') && ASSETS[path.slice(6)]) {
    const name = path.slice(6);
    send(res, ASSETS[name] as string, assetBytes(name));
  } else {
    return false;
  }
  return true;
}

/** Built once per process: the same text as the committed openapi.json (npm run openapi writes it). */
let document: string | undefined;
function theDocument(): string {
  document ??= `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
  return document;
}

/** Swagger UI's files, read once (the bundle is 1.7 MB). */
const assets = new Map<string, Buffer>();
function assetBytes(name: string): Buffer {
  let bytes = assets.get(name);
  if (bytes === undefined) {
    bytes = readFileSync(join(SWAGGER_UI_DIR, name));
    assets.set(name, bytes);
  }
  return bytes;
}

/**
 * The page's Content-Security-Policy: its own scripts and style sheets only (no inline script or style
 * element; Swagger UI's icons are data: images), requests to this server only, and never framed (a
 * framing page could steer a developer's clicks on "Execute"). test/api-docs.test.ts runs the page under it.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function send(res: ServerResponse, contentType: string, body: string | Buffer): void {
  res.writeHead(200, {
    'content-type': contentType,
    'cache-control': 'no-cache',
    'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  });
  res.end(body);
}
