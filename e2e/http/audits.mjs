// The GraphQL over HTTP conformance audits of the graphql-http package
// (the reference implementation of the GraphQL over HTTP specification)
// against the gateway's endpoint.
//
//   node audits.mjs BASE_URL TOKEN      (usually through ./run)
//
// Prints every audit's id, name and status, and for each one that is not ok
// the reason, the request it sent and the response it got. Exits 1 when a
// MUST audit fails (status error), when a SHOULD audit fails (status warn)
// that acceptedWarnings does not list, or when acceptedWarnings lists an
// audit that is unknown or now passes (so the list, and README.md's copy of
// it, stay true). MAY audits (status notice) are printed only.
import { serverAudits } from 'graphql-http';

// SHOULD audits the gateway knowingly fails: audit name -> why. Keep in step
// with "GraphQL over HTTP conformance" in README.md.
const acceptedWarnings = {};

const [base, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node audits.mjs BASE_URL TOKEN');
  process.exit(2);
}
const timeoutMs = Number(process.env.HTTP_CHECK_TIMEOUT_MS || 10000);

// The gateway answers only introspection without a token, so every audit
// request carries one. The audits run one at a time and each sends one
// request: the last one is what a failing audit's response answers.
let lastRequest;
async function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  lastRequest = {
    method: init.method || 'GET',
    url: String(input),
    accept: headers.get('accept'),
    contentType: headers.get('content-type'),
    body: typeof init.body === 'string' ? init.body : undefined,
  };
  return fetch(input, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
}

async function describeResponse(res) {
  let body;
  try {
    body = await res.text();
  } catch {
    body = '(already read by the audit)';
  }
  const type = res.headers.get('content-type');
  return `${res.status} ${type ?? '(no content-type)'} ${body.length > 400 ? `${body.slice(0, 400)}...` : body}`;
}

const audits = serverAudits({ url: `${base}/graphql`, fetchFn: fetchWithToken });
const results = [];
for (const audit of audits) {
  lastRequest = undefined;
  let result;
  try {
    result = await audit.fn();
  } catch (e) {
    // graphql-http throws (instead of returning a result) when the audit
    // could not run at all: a refused connection, a timeout.
    result = { id: audit.id, name: audit.name, status: 'fatal', reason: String(e?.cause ?? e) };
  }
  results.push(result);
  console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}`);
  if (result.status === 'ok') continue;
  console.log(`         reason:   ${result.reason}`);
  if (lastRequest) {
    const { method, url, accept, contentType, body } = lastRequest;
    console.log(`         request:  ${method} ${url.replace(base, '')} accept=${accept ?? '(none)'} content-type=${contentType ?? '(none)'}${body ? ` ${body}` : ''}`);
  }
  if (result.response) console.log(`         response: ${await describeResponse(result.response)}`);
}

const byStatus = (s) => results.filter((r) => r.status === s);
const problems = [];
for (const r of [...byStatus('error'), ...byStatus('fatal')]) problems.push(`${r.status}: ${r.id} ${r.name}: ${r.reason}`);
for (const r of byStatus('warn')) {
  if (acceptedWarnings[r.name]) console.log(`accepted warning ${r.id} ${r.name}: ${acceptedWarnings[r.name]}`);
  else problems.push(`warning not in acceptedWarnings: ${r.id} ${r.name}: ${r.reason}`);
}
for (const name of Object.keys(acceptedWarnings)) {
  const r = results.find((x) => x.name === name);
  if (!r) problems.push(`acceptedWarnings names no audit: "${name}"`);
  else if (r.status !== 'warn') problems.push(`accepted warning now ${r.status}: ${r.id} ${name}: remove it from acceptedWarnings and README.md`);
}

const counts = ['ok', 'notice', 'warn', 'error', 'fatal'].map((s) => `${byStatus(s).length} ${s}`).join(', ');
console.log(`${results.length} audits: ${counts}`);
if (problems.length) {
  for (const p of problems) console.log(`FAIL: ${p}`);
  process.exit(1);
}
console.log('OK: the gateway passes every GraphQL over HTTP audit it must, and fails only the accepted warnings');
