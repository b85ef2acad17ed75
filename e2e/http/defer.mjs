// Incremental delivery: a query whose slow part (a full-text search) sits
// in a deferred fragment must answer the rest at once and the search after,
// over multipart/mixed (the deferSpec=20220824 format Apollo Client asks for).
//
//   node defer.mjs BASE_URL TOKEN      (usually through ./run; TOKEN of a new organisation)
//
// Writes one memory and one search document, then sends the deferred query
//  1. on the wire, parsed with meros: the answer is multipart/mixed, its
//     first part is the initial payload (the memories, no search,
//     hasNext: true), the deferred search comes in later parts, the last
//     has hasNext: false, and the parts merge into the complete result;
//  2. through Apollo Client (Defer20220824Handler): it shows the memories
//     first (dataState streaming), then the complete result, equal to the
//     merged parts.
//  3. @stream on the wire (meros): a list of three memories with
//     initialCount 1 answers one item at once and the others as `items`
//     parts at their index, which merge into the complete list.
// Exit 0 when all holds, 1 otherwise.
import { isDeepStrictEqual } from 'node:util';
import { meros } from 'meros/browser';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core';
import { Defer20220824Handler } from '@apollo/client/incremental';

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node defer.mjs BASE_URL TOKEN');
  process.exit(2);
}
const timeoutMs = Number(process.env.HTTP_CHECK_TIMEOUT_MS || 30000);
const url = `${base}/graphql`;

// Every __typename Apollo Client would add, so its result and the wire's compare equal.
const deferred = `query Deferred {
  __typename
  memories(first: 5) { __typename nodes { __typename id content } }
  ... @defer(label: "search") {
    search(text: "webhook retries") { __typename nodes { __typename document { __typename id body } } }
  }
}`;

async function post(query, variables) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// Puts data at path into target (deferSpec=20220824: path is where the
// fragment's fields belong, [] for the root).
function mergeAt(target, path, data) {
  let node = target;
  for (const key of path) node = node[key];
  Object.assign(node, data);
}

async function onTheWire(want) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'multipart/mixed;deferSpec=20220824, application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: deferred }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const type = res.headers.get('content-type') ?? '(none)';
  const parts = await meros(res);
  if (parts instanceof Response) {
    const body = await parts.text();
    const whole = (() => {
      try {
        return JSON.parse(body);
      } catch {
        return undefined;
      }
    })();
    const complete = isDeepStrictEqual(whole?.data, want) ? ' (the complete result)' : '';
    throw new Error(`the answer is ${res.status} ${type}, not multipart/mixed: no incremental delivery; it was in one piece${complete}: ${body.slice(0, 300)}`);
  }
  const payloads = [];
  for await (const part of parts) {
    if (!part.json) throw new Error(`part ${payloads.length + 1} is not JSON: ${String(part.body).slice(0, 200)}`);
    payloads.push(part.body);
  }
  const [initial, ...later] = payloads;
  if (!initial?.data?.memories || 'search' in initial.data) throw new Error(`the first part is not the initial payload (memories, no search): ${JSON.stringify(initial)}`);
  if (initial.hasNext !== true) throw new Error(`the initial payload has hasNext ${initial.hasNext}, want true`);
  if (!later.length) throw new Error('no part follows the initial payload');
  const merged = structuredClone(initial.data);
  for (const [i, p] of later.entries()) {
    if (p.errors || p.incremental?.some((inc) => inc.errors)) throw new Error(`part ${i + 2} carries errors: ${JSON.stringify(p)}`);
    for (const inc of p.incremental ?? []) mergeAt(merged, inc.path, inc.data);
    const last = i === later.length - 1;
    if (p.hasNext !== !last) throw new Error(`part ${i + 2} of ${payloads.length} has hasNext ${p.hasNext}, want ${!last}`);
  }
  if (!isDeepStrictEqual(merged, want)) throw new Error(`the merged parts are ${JSON.stringify(merged)}, want ${JSON.stringify(want)}`);
  console.log(`wire: ${type}, initial payload (memories, hasNext: true) then ${later.length} part(s) with the deferred search; merged they are the complete result`);
}

const streamed = `query Streamed { memories(first: 5) { nodes @stream(initialCount: 1, label: "rest") { id content } } }`;

async function streamOnTheWire() {
  const whole = await post(streamed.replace(' @stream(initialCount: 1, label: "rest")', ''));
  if (whole.memories.nodes.length !== 3) throw new Error(`want 3 memories to stream, have ${whole.memories.nodes.length}`);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'multipart/mixed, application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: streamed }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const parts = await meros(res);
  if (parts instanceof Response) throw new Error(`the answer is ${res.status} ${res.headers.get('content-type')}, not multipart/mixed: ${(await parts.text()).slice(0, 300)}`);
  const payloads = [];
  for await (const part of parts) payloads.push(part.body);
  const [initial, ...later] = payloads;
  if (initial?.data?.memories?.nodes?.length !== 1 || initial.hasNext !== true) throw new Error(`the initial payload is not one item with hasNext: ${JSON.stringify(initial)}`);
  const merged = structuredClone(initial.data);
  for (const p of later) {
    for (const inc of p.incremental ?? []) {
      if (!inc.items || inc.label !== 'rest') throw new Error(`not a streamed part: ${JSON.stringify(inc)}`);
      const at = inc.path.at(-1);
      let list = merged;
      for (const key of inc.path.slice(0, -1)) list = list[key];
      if (list.length !== at) throw new Error(`items for index ${at} arrived when the list had ${list.length}`);
      list.push(...inc.items);
    }
  }
  if (later.at(-1)?.hasNext !== false) throw new Error(`the last part has hasNext ${later.at(-1)?.hasNext}`);
  if (!isDeepStrictEqual(merged, whole)) throw new Error(`the merged parts are ${JSON.stringify(merged)}, want ${JSON.stringify(whole)}`);
  console.log(`stream: 1 item at once, then ${later.length} part(s) with the other ${whole.memories.nodes.length - 1}; merged they are the complete list`);
}

async function throughApollo(want) {
  const client = new ApolloClient({
    link: new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache(),
    incrementalHandler: new Defer20220824Handler(),
  });
  try {
    const seen = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no complete result in ${timeoutMs} ms`)), timeoutMs);
      client.watchQuery({ query: gql(deferred) }).subscribe({
        next: (r) => {
          if (r.error) {
            clearTimeout(timer);
            reject(r.error);
            return;
          }
          if (r.loading && r.dataState !== 'streaming') return;
          seen.push(r);
          if (r.dataState === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    const final = seen.at(-1);
    if (!isDeepStrictEqual(final.data, want)) throw new Error(`Apollo Client's complete result is ${JSON.stringify(final.data)}, want ${JSON.stringify(want)}`);
    const first = seen[0];
    if (first.dataState !== 'streaming' || !first.data?.memories || first.data.search !== undefined) {
      throw new Error(`Apollo Client got the whole result at once (first result: dataState ${first.dataState}, search ${first.data?.search ? 'present' : 'absent'})`);
    }
    console.log(`apollo: ${seen.length} results: the memories first (streaming), then the complete result with the search`);
  } finally {
    client.stop();
  }
}

const problems = [];
let want;
try {
  const appId = (await post('mutation { createApp(input: {name: "defer-check"}) { app { id } } }')).createApp.app.id;
  const memory = (await post('mutation($a: ID!) { createMemory(input: {appId: $a, content: "deferred fragments arrive later"}) { memory { id content } } }', { a: appId })).createMemory.memory;
  const doc = { id: 'defer-doc', body: 'webhook retries use exponential backoff' };
  await post('mutation($d: [DocumentInput!]!) { indexDocuments(input: {documents: $d}) { documentIds } }', { d: [doc] });
  for (const content of ['streamed items come later', 'in order, at their index']) {
    await post('mutation($a: ID!, $c: String!) { createMemory(input: {appId: $a, content: $c}) { memory { id } } }', { a: appId, c: content });
  }
  // The complete result, as the gateway answers it without @defer.
  want = await post(deferred.replace(' @defer(label: "search")', ''));
  const expected = {
    __typename: 'Query',
    memories: { __typename: 'MemoryConnection', nodes: want.memories.nodes },
    search: { __typename: 'SearchHitConnection', nodes: [{ __typename: 'SearchHit', document: { __typename: 'SearchDocument', ...doc } }] },
  };
  if (want.memories.nodes.length !== 3 || !want.memories.nodes.some((n) => n.id === memory.id)) throw new Error(`memories: ${JSON.stringify(want.memories)}`);
  if (!isDeepStrictEqual(want, expected)) throw new Error(`without @defer the query answers ${JSON.stringify(want)}, want ${JSON.stringify(expected)}`);
} catch (e) {
  console.log(`FAIL: setting up: ${e.message}`);
  process.exit(1);
}
for (const check of [onTheWire, throughApollo, streamOnTheWire]) {
  try {
    await check(want);
  } catch (e) {
    problems.push(`${check.name}: ${e.message}`);
  }
}
if (problems.length) {
  for (const p of problems) console.log(`FAIL: ${p}`);
  process.exit(1);
}
console.log('OK: @defer and @stream are delivered incrementally over multipart/mixed and merge into the complete result');
process.exit(0);
