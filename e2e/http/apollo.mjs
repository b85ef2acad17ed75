// Relay-style pagination through Apollo Client's normalized cache, as a UI
// with an "older memories" button does it.
//
//   node apollo.mjs BASE_URL TOKEN      (usually through ./run; TOKEN of a new organisation)
//
// Creates 150 memories (two atomic createMemories: at most 100 each), then
// pages memories(first: 40, filter) with fetchMore until hasNextPage is
// false. relayStylePagination(['filter']) merges the pages in the cache,
// which must then hold exactly the 150 memories, each once, in the order the
// pages came, newest first. Exit 0 when all holds, 1 otherwise.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core';
import { relayStylePagination } from '@apollo/client/utilities';

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node apollo.mjs BASE_URL TOKEN');
  process.exit(2);
}
const timeoutMs = Number(process.env.HTTP_CHECK_TIMEOUT_MS || 30000);
const total = 150;
const pageSize = 40;

const client = new ApolloClient({
  link: new HttpLink({ uri: `${base}/graphql`, headers: { authorization: `Bearer ${token}` } }),
  cache: new InMemoryCache({
    // first/after only move through the one list; filter picks another list.
    typePolicies: { Query: { fields: { memories: relayStylePagination(['filter']) } } },
  }),
});

const CreateApp = gql`
  mutation CreateApp($name: String!) {
    createApp(input: { name: $name }) { app { id } }
  }
`;
const CreateMemories = gql`
  mutation CreateMemories($memories: [CreateMemoryInput!]!) {
    createMemories(input: { memories: $memories }) { memories { id content } }
  }
`;
const Memories = gql`
  query Memories($first: Int, $after: String, $filter: MemoryFilter) {
    memories(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id content createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

// Follows a watched query as a UI does: every result it emits. It stays
// subscribed, so fetchMore has a live query to merge into.
function follow(observable) {
  const followed = { latest: undefined, error: undefined };
  observable.subscribe({
    next: (r) => {
      if (r.error) followed.error = r.error;
      else if (!r.loading) followed.latest = r;
    },
    error: (e) => (followed.error = e),
  });
  return followed;
}

async function until(what, followed, cond) {
  const deadline = Date.now() + timeoutMs;
  while (!(followed.latest && cond(followed.latest))) {
    if (followed.error) throw followed.error;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return followed.latest;
}

let failed = false;
try {
  const appId = (await client.mutate({ mutation: CreateApp, variables: { name: 'apollo-check' } })).data.createApp.app.id;
  const created = [];
  for (let start = 0; start < total; start += 100) {
    const memories = Array.from({ length: Math.min(100, total - start) }, (_, i) => ({ appId, content: `apollo page memory ${String(start + i).padStart(3, '0')}` }));
    const { data } = await client.mutate({ mutation: CreateMemories, variables: { memories } });
    created.push(...data.createMemories.memories.map((m) => m.id));
  }
  if (created.length !== total) throw new Error(`createMemories created ${created.length} memories, want ${total}`);

  const filter = { appId };
  const watched = client.watchQuery({ query: Memories, variables: { first: pageSize, filter } });
  const followed = follow(watched);
  let page = (await until('the first page', followed, () => true)).data.memories;
  // The order the server gave, page after page.
  const served = page.edges.map((e) => e.node.id);
  let pages = 1;
  while (page.pageInfo.hasNextPage) {
    if (pages > total / pageSize + 1) throw new Error(`still hasNextPage after ${pages} pages of ${pageSize}`);
    page = (await watched.fetchMore({ variables: { after: page.pageInfo.endCursor } })).data.memories;
    served.push(...page.edges.map((e) => e.node.id));
    pages++;
  }

  const merged = client.readQuery({ query: Memories, variables: { first: pageSize, filter } }).memories;
  const ids = merged.edges.map((e) => e.node.id);
  const problems = [];
  if (ids.length !== total) problems.push(`the cache holds ${ids.length} memories, want ${total}`);
  if (new Set(ids).size !== ids.length) problems.push(`the cache holds ${ids.length - new Set(ids).size} duplicates`);
  if (new Set(served).size !== served.length) problems.push(`the server served ${served.length - new Set(served).size} memories twice across pages`);
  const missing = created.filter((id) => !ids.includes(id));
  if (missing.length) problems.push(`${missing.length} created memories are not in the cache`);
  if (ids.join() !== served.join()) problems.push('the cache does not hold the memories in the order the server served them');
  const times = merged.edges.map((e) => Date.parse(e.node.createdAt));
  if (times.some((t, i) => i > 0 && t > times[i - 1])) problems.push('the memories are not newest first');
  if (merged.pageInfo.hasNextPage) problems.push('the merged pageInfo still has a next page');
  const shown = await until(`the watched query to show ${ids.length} memories`, followed, (r) => r.data.memories.edges.length === ids.length);
  if (shown.data.memories.edges.map((e) => e.node.id).join() !== ids.join()) problems.push('the watched query shows another list than the cache holds');
  if (problems.length) throw new Error(problems.join('; '));
  console.log(`apollo: ${total} memories in ${pages} pages of ${pageSize}, merged by relayStylePagination in server order, no duplicates`);
} catch (e) {
  failed = true;
  console.log(`FAIL: ${e.message}`);
}
client.stop();
if (!failed) console.log('OK: Apollo Client pages the memories connection with fetchMore into one list');
process.exit(failed ? 1 : 0);
