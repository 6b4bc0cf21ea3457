import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HEALTH_ROUTE, ROUTES } from '../functions/routes.js';
import { localJwtSecret, signDevToken } from '../local/dev-auth.js';
import { launchBrowser } from './support/browser.js';
import { type LocalProcess, removeDir, runLocal, tempDir } from './support/local-process.js';

/**
 * The API reference as an app developer meets it: `npm start` (on the tests' DynamoDB Local, so no Java
 * of its own), its /docs page in a real headless Chromium, every route listed, and a "Try it out" with a
 * dev token that reaches the local API (its request log line says so).
 */
const ROOT = join(import.meta.dirname, '..');
const READY = /Roaming API: (http:\/\/127\.0\.0\.1:\d+)/;

let cwd: string;
let local: LocalProcess;
let api: string;
let browser: Browser;
let secret: string;

beforeAll(async () => {
  cwd = tempDir('docs');
  local = runLocal('local/start.ts', {
    cwd,
    env: {
      DYNAMODB_ENDPOINT: inject('dynamoEndpoint'),
      TABLE_NAME: `roaming_docs_${process.pid}`,
      PORT: '0',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ROAMING_JWT_SECRET: '',
    },
  });
  api = (await local.waitFor(READY))[1] as string;
  // What `npm run token` signs with there: the secret npm start made in its (default) data folder.
  secret = localJwtSecret({ ROAMING_DATA_DIR: join(cwd, '.data', 'dynamodb') }).secret;
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  local?.child.kill('SIGTERM');
  await local?.exited();
  removeDir(cwd);
});

describe('npm start: OpenAPI document and reference page', () => {
  it('serves exactly the committed document at /openapi.json, whatever its own address', async () => {
    const served = await (await fetch(`${api}/openapi.json`)).text();
    expect(served).toBe(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
  });

  it('/docs loads offline from node_modules and lists every route and GET /health', async () => {
    // A page of its own browser context: no cookies, storage or pooled connections from another test.
    const page = await browser.newPage();
    const offsite: string[] = [];
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(api) && !request.url().startsWith('data:')) offsite.push(request.url());
    });
    await page.goto(`${api}/docs`);
    await page.locator('.opblock').first().waitFor();
    const listed = await page.$$eval('.opblock', (blocks) =>
      blocks.map((block) => {
        const method = block.querySelector('.opblock-summary-method')?.textContent ?? '';
        const path = block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
        return `${method.trim().toUpperCase()} ${path}`;
      }),
    );
    const operations = [...ROUTES, HEALTH_ROUTE].map((route) => `${route.method} ${route.path}`);
    expect(listed.sort()).toEqual(operations.sort());
    expect(offsite).toEqual([]);
    // The page works within its own Content-Security-Policy.
    expect(violations).toEqual([]);
    await page.close();
  });

  it('/docs, its files, the document and every API answer send CSP, frame-ancestors none and nosniff', async () => {
    const token = await signDevToken('docs-headers', { secret });
    const answers = {
      page: await fetch(`${api}/docs`),
      script: await fetch(`${api}/docs/init.js`),
      bundle: await fetch(`${api}/docs/swagger-ui-bundle.js`),
      document: await fetch(`${api}/openapi.json`),
      ok: await fetch(`${api}/v1/conversations`, { headers: { authorization: `Bearer ${token}` } }),
      refused: await fetch(`${api}/v1/conversations`),
      missing: await fetch(`${api}/nowhere`),
    };
    for (const [what, answer] of Object.entries(answers)) {
      await answer.arrayBuffer();
      const policy = answer.headers.get('content-security-policy') ?? '';
      expect(policy, what).toMatch(/frame-ancestors 'none'/);
      expect(policy, what).toMatch(/default-src 'none'/);
      expect(answer.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(answer.headers.get('x-frame-options'), what).toBe('DENY');
    }
    expect([answers.ok.status, answers.refused.status, answers.missing.status]).toEqual([200, 401, 404]);
  });

  it('a token entered under "Authorize" is not kept: nothing in localStorage, gone after a reload', async () => {
    const token = await signDevToken('docs-forgetful', { secret });
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${api}/docs`);
    await authorize(page, token);
    const authorized = () =>
      page.evaluate(() => JSON.stringify((globalThis as never as PageGlobals).ui.authSelectors.authorized()));
    // The page holds it while open (Try it out sends it)...
    expect(await authorized()).toContain(token);
    // ...but keeps it nowhere a later visit (or anything else on this origin) could read it.
    const stored = await page.evaluate(() => {
      const { localStorage, sessionStorage } = globalThis as never as PageGlobals;
      return JSON.stringify({ ...localStorage, ...sessionStorage });
    });
    expect(stored).not.toContain(token);
    await page.reload();
    await page.locator('.opblock').first().waitFor();
    expect(await authorized()).not.toContain(token);
    expect(violations).toEqual([]);
    await page.close();
  });

  it('"Try it out" with a dev token reaches the local API and shows its answer', async () => {
    const token = await signDevToken('docs-alice', { secret });
    await fetch(`${api}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: 'docs-bob',
        chatType: 'single',
        type: 'text',
        body: { text: 'hi from the docs test' },
      }),
    });
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('requestfailed', (request) => problems.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(`${api}/docs`);
    await authorize(page, token);

    const operation = page.locator('#operations-Conversations-listConversations');
    await operation.locator('.opblock-summary-control').click();
    await operation.locator('.try-out__btn').click();
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table .response .response-col_status');
    await status.waitFor();
    const shown = await operation.locator('.live-responses-table').textContent();
    expect((await status.textContent())?.trim(), `the page shows: ${shown}; browser: ${problems}`).toBe(
      '200',
    );
    const body = await operation
      .locator('.live-responses-table .response-col_description pre')
      .first()
      .textContent();
    const answer = JSON.parse(body ?? '{}') as { conversations: { convId: string }[] };
    expect(answer.conversations.map((c) => c.convId)).toEqual(['docs-bob']);
    await page.close();

    // The request reached npm start: its log line names the route and the caller (never the token).
    const [line] = await local.waitFor(
      /\{[^\n]*"route":"listConversations"[^\n]*"caller":"docs-alice"[^\n]*\}/,
    );
    const logged = JSON.parse(line) as Record<string, unknown>;
    expect(logged).toMatchObject({
      level: 'INFO',
      message: 'request',
      service: 'roaming-api',
      method: 'GET',
      routeKey: 'GET /v1/conversations',
      status: 200,
      correlation_id: expect.any(String),
      dynamodb: { requests: expect.any(Number), capacityUnits: expect.any(Number) },
    });
    expect((logged.dynamodb as { requests: number }).requests).toBeGreaterThan(0);
    expect(line).not.toContain(token);
  });
});

/** The page's globals these tests read: Swagger UI (`window.ui`) and the browser's storage. */
interface PageGlobals {
  ui: { authSelectors: { authorized(): unknown } };
  localStorage: Record<string, string>;
  sessionStorage: Record<string, string>;
}

/** Swagger UI's "Authorize" dialog: the bearer token, then close. */
async function authorize(page: Page, token: string): Promise<void> {
  await page.locator('button.authorize').first().click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  await dialog.locator('input').first().fill(token);
  await dialog.locator('button.modal-btn.authorize').click();
  await dialog.locator('button.btn-done').click();
}
