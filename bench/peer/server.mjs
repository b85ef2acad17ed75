// The benchmark's peer: PostGraphile v5 (amber preset, pg adaptor) serving
// the gateway's own PostgreSQL schema as the application role, so the same
// row level security policies apply. The tenant comes from the same HS256
// JWT the gateway verifies (claims org and sub), and PostGraphile sets it
// with pgSettings (app.org_id / app.user_id) inside its transaction, as the
// gateway's set_config does. bench/ starts it with:
//   DATABASE_URL  the application role's URL of the benchmark database
//   PEER_JWT_SECRET, PEER_PORT, PEER_POOL_SIZE (default 16, the gateway's pool size)
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const secret = process.env.PEER_JWT_SECRET;
const port = Number(process.env.PEER_PORT || 5678);
if (!process.env.DATABASE_URL || !secret) {
  console.error("DATABASE_URL and PEER_JWT_SECRET are required");
  process.exit(2);
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.PEER_POOL_SIZE || 16) },
    }),
  ],
  grafast: {
    explain: false,
    context(requestContext) {
      const header = requestContext.node?.req?.headers?.authorization ?? "";
      const match = /^Bearer (.+)$/.exec(header);
      if (!match) {
        throw new Error("unauthenticated: missing bearer token");
      }
      const claims = jwt.verify(match[1], secret, { algorithms: ["HS256"] });
      return {
        pgSettings: { "app.org_id": String(claims.org), "app.user_id": String(claims.sub) },
      };
    },
  },
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (e) => {
  console.error(e);
  process.exit(1);
});
serv.addTo(server).then(
  () => server.listen(port, "127.0.0.1", () => console.log(`READY http://127.0.0.1:${port}/graphql`)),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close();
    pgl.release().finally(() => process.exit(0));
  });
}
