// A subscription started in the embedded GraphiQL, in headless Chromium,
// shows an event.
//
//   node graphiql.mjs BASE_URL DEMO_TOKEN      (usually through ./run)
//
// Opens BASE_URL/graphql (development mode: the demo token is in GraphiQL's
// headers editor, which GraphiQL sends as the WebSocket connection_init
// payload), types a memoryChanged subscription, runs it, then creates a
// memory for the demo tenant over HTTP until the response pane shows it.
import { chromium } from 'playwright-core';

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node graphiql.mjs BASE_URL DEMO_TOKEN');
  process.exit(2);
}
const timeoutMs = Number(process.env.GRAPHIQL_CHECK_TIMEOUT_MS || 60000);
const deadline = Date.now() + timeoutMs;
const marker = `seen in graphiql ${Date.now()}`;

async function gql(q, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: q, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
let ok = false;
let sockets = 0;
const problems = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('websocket', () => sockets++);
  page.on('console', (m) => process.env.DEBUG && console.log('console', m.type(), m.text()));
  page.on('request', (r) => process.env.DEBUG && console.log('request', r.method(), r.url(), (r.postData() || '').slice(0, 80)));
  // GraphiQL opens with the query it last had (its storage), so the
  // editor starts with the subscription, parsed, as a user would have it.
  await page.addInitScript((q) => localStorage.setItem('graphiql:query', q),
    'subscription Live { memoryChanged { kind version memory { content } } }');
  await page.goto(`${base}/graphql`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: timeoutMs });
  await page.waitForFunction(() => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.getValue().includes('memoryChanged'));
  // Run once the schema is in (GraphiQL validates the operation against it).
  await page.waitForLoadState('networkidle', { timeout: timeoutMs });
  const opened = page.waitForEvent('websocket', { timeout: timeoutMs });
  await page.click('.graphiql-execute-button');
  try {
    await opened;
  } catch (e) {
    await page.screenshot({ path: '/tmp/graphiql-subscription-failed.png' });
    throw new Error(`no WebSocket opened; the response pane says: ${(await page.locator('.graphiql-response').innerText()).slice(0, 300)}`);
  }
  const app = (await gql('{ apps(first: 1) { nodes { id } } }')).apps.nodes[0].id;
  // Write until the response pane shows the change (the subscription
  // starts asynchronously; there is no message before the first change).
  while (Date.now() < deadline) {
    await gql('mutation($a: ID!, $c: String!) { createMemory(input: {appId: $a, content: $c}) { memory { id } } }', { a: app, c: marker });
    const text = await page.locator('.graphiql-response').innerText();
    if (text.includes(marker)) {
      ok = true;
      break;
    }
    await page.waitForTimeout(250);
  }
  console.log(`websockets opened by the page: ${sockets}`);
  await page.screenshot({ path: process.env.GRAPHIQL_SUBSCRIPTION_SCREENSHOT || '/tmp/graphiql-subscription.png' });
} catch (e) {
  problems.push(e.message.split('\n')[0]);
} finally {
  await browser.close();
}
if (sockets === 0) problems.push('GraphiQL ran the subscription without a WebSocket');
if (!ok || problems.length) {
  console.log(`FAIL: the GraphiQL subscription showed no event${problems.length ? ': ' + problems.join('; ') : ''}`);
  process.exit(1);
}
console.log('OK: a subscription started in GraphiQL showed a memoryChanged event');
