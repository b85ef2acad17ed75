// The gateway as @urql/core sees it with its default fetch options: urql
// sends `Accept: application/graphql-response+json, application/graphql+json,
// application/json, text/event-stream, multipart/mixed` on every query and
// mutation, so a plain query must still get a plain JSON answer.
//
//   node urql.mjs BASE_URL TOKEN      (usually through ./run; TOKEN of a new organisation)
//
// Creates an app and two memories, reads them back, then sends 50 different
// queries at once: every answer must be right, with status 200 and a JSON
// content type (no 429, no text/event-stream). Exit 0 when all holds, 1 otherwise.
import { isDeepStrictEqual } from 'node:util';
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node urql.mjs BASE_URL TOKEN');
  process.exit(2);
}
// A rejection nobody handles (urql aborting a fetch it no longer needs,
// say) would crash a UI's process: it fails the check.
function crash(what) {
  return (e) => {
    console.log(`FAIL: ${what}: ${e?.stack ?? e}`);
    process.exit(1);
  };
}
process.on('unhandledRejection', crash('unhandled rejection'));
process.on('uncaughtException', crash('uncaught exception'));

// Records what the gateway answered, without touching what urql sends.
const responses = [];
async function recordingFetch(input, init) {
  const res = await fetch(input, init);
  const operation = init?.body ? JSON.parse(init.body).operationName : new URL(input).searchParams.get('operationName');
  responses.push({
    operation: `${init?.method ?? 'GET'} ${operation}`,
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    accept: new Headers(init?.headers).get('accept'),
  });
  return res;
}

const client = new Client({
  url: `${base}/graphql`,
  exchanges: [cacheExchange, fetchExchange],
  fetch: recordingFetch,
  fetchOptions: { headers: { authorization: `Bearer ${token}` } },
});

const CreateApp = gql`
  mutation CreateApp($name: String!) {
    createApp(input: { name: $name }) { app { id name } }
  }
`;
const CreateMemory = gql`
  mutation CreateMemory($appId: ID!, $content: String!, $categories: [String!]) {
    createMemory(input: { appId: $appId, content: $content, categories: $categories }) {
      memory { id content version state app { id name } categories { name } }
    }
  }
`;
const Memories = gql`
  query Memories($first: Int, $appId: ID) {
    memories(first: $first, filter: { appId: $appId }) {
      nodes { id content version state app { id name } categories { name } }
      pageInfo { hasNextPage }
    }
  }
`;

// The result's data, or a thrown error naming what went wrong.
function dataOf(what, result) {
  if (result.error) throw new Error(`${what}: ${result.error.message} ${JSON.stringify(result.error.graphQLErrors)}`);
  if (!result.data) throw new Error(`${what}: no data`);
  return result.data;
}

function assertEqual(what, got, want) {
  if (!isDeepStrictEqual(got, want)) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// A wrong status or content type is noted and the check goes on, so one
// run tells everything that is wrong.
const problems = [];
function plainJSONAnswers(what, answers) {
  const bad = answers.filter((r) => r.status !== 200 || !/^application\/(graphql-response\+)?json/.test(r.type));
  if (!bad.length) return;
  const shown = [...new Set(bad.map((r) => `${r.operation} -> ${r.status} ${r.type}`))];
  problems.push(`${what}: ${bad.length} of ${answers.length} answers were not 200 with JSON (Accept: ${bad[0].accept}): ${shown.join('; ')}`);
}

try {
  const app = dataOf('createApp', await client.mutation(CreateApp, { name: 'urql-check' }).toPromise()).createApp.app;
  assertEqual('createApp name', app.name, 'urql-check');
  const created = [];
  for (const [content, categories] of [['urql writes a memory', ['clients']], ['urql writes another', ['clients', 'http']]]) {
    const m = dataOf('createMemory', await client.mutation(CreateMemory, { appId: app.id, content, categories }).toPromise()).createMemory.memory;
    // urql asks for every object's __typename (its cache keys on it).
    const want = { __typename: 'Memory', id: m.id, content, version: 1, state: 'ACTIVE', app, categories: categories.map((name) => ({ __typename: 'Category', name })) };
    assertEqual('created memory', m, want);
    created.push(m);
  }
  const listed = dataOf('memories', await client.query(Memories, { first: 10, appId: app.id }, { requestPolicy: 'network-only' }).toPromise()).memories;
  // Newest first.
  assertEqual('memories', listed, { __typename: 'MemoryConnection', nodes: [created[1], created[0]], pageInfo: { __typename: 'PageInfo', hasNextPage: false } });
  plainJSONAnswers('the mutations and the query', responses);
  console.log(`urql: createApp, 2 x createMemory and memories: right data (Accept: ${responses[0].accept})`);

  // 50 different operations (urql would merge identical ones), all at once.
  responses.length = 0;
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => client.query(Memories, { first: i + 1, appId: app.id }, { requestPolicy: 'network-only' }).toPromise()),
  );
  results.forEach((r, i) => {
    const want = [created[1], created[0]].slice(0, i + 1);
    assertEqual(`concurrent query ${i + 1}`, dataOf(`concurrent query ${i + 1}`, r).memories.nodes, want);
  });
  if (responses.length !== 50) throw new Error(`50 concurrent queries made ${responses.length} requests`);
  plainJSONAnswers('50 concurrent queries', responses);
  console.log('urql: 50 concurrent queries: right data');
} catch (e) {
  problems.push(e.message);
}
if (problems.length) {
  for (const p of problems) console.log(`FAIL: ${p}`);
  process.exit(1);
}
console.log('OK: urql with its default headers queries and mutates, also 50 at once, and gets plain JSON');
process.exit(0);
