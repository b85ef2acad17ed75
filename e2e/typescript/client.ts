// A small client written against the generated types: if the schema stops
// being codegen-friendly (or an operation stops matching it), this file no
// longer type-checks.
import type {
  CreateMemoryMutation,
  CreateMemoryMutationVariables,
  MemoriesQuery,
  MixedQuery,
  RecallQuery,
  MemoryState,
} from "./generated/graphql";
import type { Memory, Node, Recall } from "./generated/schema";

export async function request<TData, TVars>(url: string, token: string, query: string, variables: TVars): Promise<TData> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: TData; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) {
    throw new Error(body.errors.map((e) => `${e.extensions?.code ?? "?"}: ${e.message}`).join("; "));
  }
  return body.data as TData;
}

export function newMemory(appId: string, content: string): CreateMemoryMutationVariables {
  return { input: { appId, content, categories: ["e2e"], metadata: { source: "typescript" } } };
}

export function memoryId(r: CreateMemoryMutation): string {
  return r.createMemory.memory.id;
}

export function activeContents(r: MemoriesQuery): string[] {
  const active: MemoryState = "ACTIVE";
  return (r.memories?.edges ?? []).filter((e) => e.node.state === active).map((e) => e.node.content);
}

export function degradedFields(r: MixedQuery): string[] {
  const out: string[] = [];
  if (r.memories == null) out.push("memories");
  if (r.episodicSession == null) out.push("episodicSession");
  if (r.codeRepos == null) out.push("codeRepos");
  if (r.vectorSearch == null) out.push("vectorSearch");
  if (r.search == null) out.push("search");
  return out;
}

export function recallSummary(r: RecallQuery): string {
  const hits = r.recall?.hits ?? [];
  const sources = (r.recall?.sources ?? []).map((s) => `${s.name}=${s.status}(${s.hitCount})`);
  return `${hits.length} hits; ${sources.join(", ")}`;
}

export function describe(m: Pick<Memory, "id" | "content" | "version">, n: Node, r: Pick<Recall, "sources">): string {
  return `${n.id}: ${m.content} (v${m.version}); ${r.sources.length} recall sources`;
}
