// Headless Chromium check of the embedded GraphiQL page.
//
//   node check.mjs URL          (usually through ./check URL)
//
// Opens URL in Debian's /usr/bin/chromium (driven by playwright-core; no
// Playwright-managed browser is ever downloaded), records every request the
// page makes, and waits (up to GRAPHIQL_CHECK_TIMEOUT_MS, default 60000) until
//   - GraphiQL is rendered: .graphiql-container with a CodeMirror query editor,
//   - the schema introspection request to the GraphQL endpoint has answered
//     200 with a __schema,
//   - the explorer plugin opens from the sidebar,
//   - the network is idle.
// Then it saves a screenshot to GRAPHIQL_SCREENSHOT (default /tmp/graphiql.png)
// and exits 1 listing every request whose host is not loopback (127.0.0.1,
// localhost, ::1), every failed or >= 400 response, every console error or
// uncaught page error, or the timeout. Exit 0 means all clean; 2 is misuse.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.argv[2];
if (!url || process.argv.length > 3) {
  console.error('usage: node check.mjs URL');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const screenshot = process.env.GRAPHIQL_SCREENSHOT || '/tmp/graphiql.png';
const timeoutMs = Number(process.env.GRAPHIQL_CHECK_TIMEOUT_MS || 60000);
const deadline = Date.now() + timeoutMs;
const remaining = () => Math.max(1, deadline - Date.now());

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
// Schemes that never touch the network.
const LOCAL_SCHEMES = new Set(['data:', 'blob:', 'about:']);

const requests = []; // {method, url, status}
const problems = [];

function offHost(u) {
  let parsed;
  try {
    parsed = new URL(u);
  } catch {
    return true;
  }
  if (LOCAL_SCHEMES.has(parsed.protocol)) return false;
  return !LOOPBACK.has(parsed.hostname);
}

function withDeadline(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}`)), remaining());
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const userDataDir = await mkdtemp(join(tmpdir(), 'graphiql-check-'));
let context;
let exitCode = 0;
try {
  // launchPersistentContext is how Playwright takes a --user-data-dir: a fresh
  // empty one each run, so no cached assets or stored GraphiQL state.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
    timeout: remaining(),
  });

  let resolveIntrospection;
  const introspected = new Promise((resolve) => (resolveIntrospection = resolve));

  const watch = (page) => {
    page.on('request', (req) => {
      const rec = { method: req.method(), url: req.url(), status: '…' };
      requests.push(rec);
      req.response().then(
        (res) => {
          rec.status = res ? res.status() : 'no response';
        },
        () => {},
      );
      if (offHost(req.url())) problems.push(`off-host request: ${req.method()} ${req.url()}`);
    });
    page.on('requestfailed', (req) => {
      problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
    page.on('response', async (res) => {
      const req = res.request();
      if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${req.method()} ${req.url()}`);
      if (req.method() !== 'POST' || !/__schema/.test(req.postData() || '')) return;
      try {
        const body = await res.json();
        if (res.status() === 200 && body?.data?.__schema) {
          resolveIntrospection(req.url());
        } else {
          problems.push(`introspection answered ${res.status()} without data.__schema: ${JSON.stringify(body).slice(0, 300)}`);
        }
      } catch (e) {
        problems.push(`introspection response unreadable: ${e.message}`);
      }
    });
    page.on('websocket', (ws) => {
      requests.push({ method: 'WEBSOCKET', url: ws.url(), status: '' });
      if (offHost(ws.url())) problems.push(`off-host websocket: ${ws.url()}`);
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') {
        const loc = msg.location();
        problems.push(`console error: ${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
      }
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  };
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  context.on('page', watch); // popups, if any, are watched too

  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: remaining() });
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: remaining() });
  const endpoint = await withDeadline(introspected, 'the schema introspection response');
  console.log(`introspection answered by ${endpoint}`);

  // The explorer plugin is in the sidebar; open it and wait for it to render the schema.
  await page.click('button[aria-label="Show GraphiQL Explorer"]', { timeout: remaining() });
  await page.waitForSelector('.graphiql-explorer-root', { timeout: remaining() });

  await page.waitForLoadState('networkidle', { timeout: remaining() });
  await page.screenshot({ path: screenshot, fullPage: true, timeout: remaining() });
  console.log(`screenshot: ${screenshot}`);
} catch (e) {
  problems.push(e.name === 'TimeoutError' || /timeout/i.test(e.message) ? `timeout: ${e.message.split('\n')[0]}` : `error: ${e.message.split('\n')[0]}`);
  if (context) {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: screenshot, timeout: 5000 }).then(() => console.log(`screenshot (at failure): ${screenshot}`), () => {});
  }
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
}

console.log(`requests seen (${requests.length}):`);
for (const r of requests) console.log(`  ${offHost(r.url) ? 'OFF-HOST ' : ''}${r.method} ${r.url.length > 200 ? r.url.slice(0, 200) + '…' : r.url} ${r.status}`);
if (problems.length) {
  console.log(`FAIL: ${problems.length} problem(s):`);
  for (const p of problems) console.log(`  - ${p}`);
  exitCode = 1;
} else {
  console.log('OK: GraphiQL rendered, schema introspected, explorer opened, every request stayed on the loopback host, no console errors.');
}
process.exit(exitCode);
