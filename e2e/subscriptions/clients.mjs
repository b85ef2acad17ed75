// Subscriptions over real sockets with the npm clients a UI would use:
// graphql-ws (graphql-transport-ws over WebSocket) and graphql-sse (Server-
// Sent Events, distinct connections mode).
//
//   node clients.mjs BASE_URL TOKEN_ALICE TOKEN_BOB      (usually through ./run)
//
// Alice subscribes to memoryChanged with both clients, Bob (another
// organisation) with graphql-ws. Alice writes until both her clients are
// live, then updates one memory ten times: both clients must get every
// version in commit order. Bob then writes a marker: it must be the only
// thing Bob ever received. Exit 0 when all holds, 1 otherwise.
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';

const [base, alice, bob] = process.argv.slice(2);
if (!bob) {
  console.error('usage: node clients.mjs BASE_URL TOKEN_ALICE TOKEN_BOB');
  process.exit(2);
}
const deadline = Date.now() + Number(process.env.SUBSCRIPTIONS_CHECK_TIMEOUT_MS || 30000);
const httpURL = `${base}/graphql`;
const wsURL = httpURL.replace(/^http/, 'ws');
const query = 'subscription { memoryChanged { kind version memoryId memory { content } } }';

async function gql(token, q, variables) {
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: q, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function collect(name, client) {
  const events = [];
  const errors = [];
  const stop = client.subscribe({ query }, {
    next: (r) => (r.errors ? errors.push(r.errors) : events.push(r.data.memoryChanged)),
    error: (e) => errors.push(e),
    complete: () => {},
  });
  return { name, events, errors, stop };
}

async function until(what, cond) {
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const wsAlice = createWsClient({ url: wsURL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${alice}` }, retryAttempts: 0 });
const wsBob = createWsClient({ url: wsURL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${bob}` }, retryAttempts: 0 });
const sseAlice = createSseClient({ url: httpURL, headers: { Authorization: `Bearer ${alice}` }, retryAttempts: 0 });

const subs = [collect('graphql-ws alice', wsAlice), collect('graphql-sse alice', sseAlice)];
const bobSub = collect('graphql-ws bob', wsBob);
let failed = false;
try {
  const app = (await gql(alice, 'mutation { createApp(input: {name: "node-clients"}) { app { id } } }')).createApp.app.id;
  // A subscription has no first message: write until both clients are live.
  let warmups = 0;
  while (subs.some((s) => s.events.length === 0)) {
    if (Date.now() > deadline) throw new Error('the clients never received a change');
    await gql(alice, 'mutation($a: ID!) { createMemory(input: {appId: $a, content: "warm-up"}) { memory { id } } }', { a: app });
    warmups++;
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = (await gql(alice, 'mutation($a: ID!) { createMemory(input: {appId: $a, content: "v1"}) { memory { id } } }', { a: app })).createMemory.memory;
  for (let v = 1; v <= 10; v++) {
    await gql(alice, 'mutation($id: ID!, $v: Int!, $c: String!) { updateMemory(input: {id: $id, expectedVersion: $v, content: $c}) { memory { version } } }', { id: m.id, v, c: `v${v + 1}` });
  }
  for (const s of subs) {
    await until(`${s.name} to see version 11`, () => s.events.some((e) => e.memoryId === m.id && e.version === 11));
    const versions = s.events.filter((e) => e.memoryId === m.id).map((e) => e.version);
    const want = Array.from({ length: 11 }, (_, i) => i + 1);
    if (JSON.stringify(versions) !== JSON.stringify(want)) throw new Error(`${s.name}: versions ${versions}, want ${want}`);
    const contents = s.events.filter((e) => e.memoryId === m.id).map((e) => e.memory.content);
    if (contents[10] !== 'v11') throw new Error(`${s.name}: last content ${contents[10]}`);
    if (s.errors.length) throw new Error(`${s.name}: errors ${JSON.stringify(s.errors)}`);
    console.log(`${s.name}: ${versions.length} versions of one memory in commit order (after ${warmups} warm-up writes)`);
  }
  const bobApp = (await gql(bob, 'mutation { createApp(input: {name: "bob"}) { app { id } } }')).createApp.app.id;
  await gql(bob, 'mutation($a: ID!) { createMemory(input: {appId: $a, content: "bob marker"}) { memory { id } } }', { a: bobApp });
  await until('bob to see his marker', () => bobSub.events.length > 0);
  if (bobSub.events.length !== 1 || bobSub.events[0].memory.content !== 'bob marker') {
    throw new Error(`bob saw ${JSON.stringify(bobSub.events)}`);
  }
  console.log('graphql-ws bob: only his own change, none of alice\'s');
} catch (e) {
  failed = true;
  console.log(`FAIL: ${e.message}`);
} finally {
  for (const s of [...subs, bobSub]) s.stop();
  await wsAlice.dispose();
  await wsBob.dispose();
  sseAlice.dispose();
}
if (!failed) console.log('OK: graphql-ws and graphql-sse clients received every committed change in order, tenant-bound');
process.exit(failed ? 1 : 0);
