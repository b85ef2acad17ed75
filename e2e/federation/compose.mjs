// Composes the gateway's subgraph SDL with a small sample subgraph into a
// Federation v2 supergraph, using @theguild/federation-composition (an
// open-source composition library), and fails on any composition error.
//
//   node compose.mjs GATEWAY_SDL_FILE      (usually through ./run)
//
// The sample subgraph ("reviews") adds a field to two of the gateway's
// entities by key, so composition must accept the gateway's @key
// declarations, its Subscription type and every other type it exposes.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'graphql';
import { composeServices } from '@theguild/federation-composition';

const sdlFile = process.argv[2];
if (!sdlFile) {
  console.error('usage: node compose.mjs GATEWAY_SDL_FILE');
  process.exit(2);
}

const reviews = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  "A reviewer's verdict on a memory."
  type Review {
    id: ID!
    stars: Int!
    memory: Memory!
  }

  type Memory @key(fields: "id") {
    id: ID!
    "Reviews of the memory, from the reviews subgraph."
    reviews: [Review!]!
  }

  type Experiment @key(fields: "id") {
    id: ID!
    "How many reviews were written under the experiment."
    reviewCount: Int!
  }

  type Query {
    topReviews(first: Int = 10): [Review!]!
  }
`;

const result = composeServices([
  { name: 'gateway', typeDefs: parse(readFileSync(sdlFile, 'utf8')), url: 'http://127.0.0.1:8080/graphql' },
  { name: 'reviews', typeDefs: parse(reviews), url: 'http://127.0.0.1:4002/graphql' },
]);

if (result.errors && result.errors.length > 0) {
  console.log(`FAIL: composition reported ${result.errors.length} error(s):`);
  for (const e of result.errors) console.log(`  - ${e.message}`);
  process.exit(1);
}
const out = process.env.SUPERGRAPH_OUT || '/tmp/supergraph.graphql';
writeFileSync(out, result.supergraphSdl);
const hints = result.hints?.length ?? 0;
console.log(`OK: the gateway subgraph composes with the sample "reviews" subgraph (${hints} hint(s)); supergraph SDL written to ${out}`);
