// Schema evolution check of the served SDL (usually through ./check, which
// `make lint` runs):
//
//   node check.mjs --changelog CHANGELOG.md [--base BASE_SDL --base-name REV] SDL_FILE
//
// 1. graphql-js builds SDL_FILE as a standalone, valid schema: every
//    directive it uses is declared.
// 2. With a base, @graphql-inspector/core diffs the base schema against it,
//    and every BREAKING change must be recorded in CHANGELOG.md, in the
//    "Breaking" subsection of the "Unreleased" section, by its schema path in
//    backticks (`Memory.content`, `Query.memories.first`, `MemoryState.ARCHIVED`),
//    or by the change's message when it has no path. Dangerous changes are
//    listed as warnings.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildSchema, validateSchema } from 'graphql';
import { diff, CriticalityLevel } from '@graphql-inspector/core';

const { values: opts, positionals } = parseArgs({
  options: {
    changelog: { type: 'string' },
    base: { type: 'string' },
    'base-name': { type: 'string' },
  },
  allowPositionals: true,
});
if (positionals.length !== 1 || !opts.changelog) {
  console.error('usage: node check.mjs --changelog CHANGELOG.md [--base BASE_SDL --base-name REV] SDL_FILE');
  process.exit(2);
}

function load(file) {
  let schema;
  try {
    schema = buildSchema(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`${file} is not a schema graphql-js can build: ${e.message}`);
  }
  const errors = validateSchema(schema);
  if (errors.length > 0) fail(`${file} is not a valid schema:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`);
  return schema;
}

function fail(message) {
  console.error(`schema check: ${message}`);
  process.exit(1);
}

// The text of the "Breaking" subsection of the "Unreleased" section (Keep a
// Changelog headings: "## [Unreleased]", "### Breaking"), or "" without one.
function unreleasedBreaking(changelog) {
  const section = changelog.split(/^## /m).find((s) => /^\[?unreleased\]?\s*$/im.test(s.split('\n')[0]));
  if (!section) return '';
  const sub = section.split(/^### /m).find((s) => /^breaking\b/i.test(s.split('\n')[0]));
  return sub ?? '';
}

// How a breaking change is named in the changelog: its path in backticks,
// which cannot match a longer path by accident, or its message.
function recordName(change) {
  return change.path ? `\`${change.path}\`` : change.message;
}

const schema = load(positionals[0]);
console.log(`schema check: ${positionals[0]} builds with graphql-js (${Object.keys(schema.getTypeMap()).filter((n) => !n.startsWith('__')).length} types, ${schema.getDirectives().length} directives)`);
if (!opts.base) {
  console.log('schema check: no base snapshot to compare with');
  process.exit(0);
}

const changes = await diff(load(opts.base), schema);
const by = (level) => changes.filter((c) => c.criticality.level === level);
const breaking = by(CriticalityLevel.Breaking);
const dangerous = by(CriticalityLevel.Dangerous);
const base = opts['base-name'] ?? opts.base;

for (const c of dangerous) console.log(`  dangerous: ${c.path ?? ''} ${c.message}`);
const recorded = unreleasedBreaking(readFileSync(opts.changelog, 'utf8'));
const unrecorded = breaking.filter((c) => !recorded.includes(recordName(c)));
for (const c of breaking) {
  console.log(`  breaking${unrecorded.includes(c) ? ' (NOT in CHANGELOG)' : ' (recorded)'}: ${recordName(c)}: ${c.message}`);
}
if (unrecorded.length > 0) {
  fail(
    `${unrecorded.length} breaking change(s) since ${base} not recorded in ${opts.changelog} ` +
      `under "## [Unreleased]" / "### Breaking". Record each by the name shown, e.g.\n` +
      unrecorded.map((c) => `  - ${recordName(c)}: why, and what clients use instead.`).join('\n'),
  );
}
console.log(
  `schema check: ${changes.length} change(s) since ${base}: ${breaking.length} breaking (all recorded in ${opts.changelog}), ` +
    `${dangerous.length} dangerous, ${changes.length - breaking.length - dangerous.length} safe`,
);
