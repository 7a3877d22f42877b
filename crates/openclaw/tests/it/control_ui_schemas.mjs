// Checks answers recorded from our gateway against the result schemas of
// the original OpenClaw package (its TypeBox-derived protocol schemas in
// dist/, validated with the package's own ajv). Used by control_ui.rs.
//
//   node control_ui_schemas.mjs <package dir> <answers.json>
//
// answers.json: [{"method": "...", "payload": ...}, ...]. Prints one JSON
// object {checked: [method...], failures: [{method, errors}]}. Fields of
// our own besides upstream's are allowed (upstream's clients ignore them),
// so `additionalProperties` errors are not failures; a missing required
// field or a wrong type is.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, answersFile] = process.argv.slice(2);
const dist = path.join(pkg, "dist");
const root = path.dirname(pkg); // .../node_modules
const Ajv = (await import(pathToFileURL(path.join(root, "ajv/dist/2019.js")).href)).default;

// Method -> schema export name, where upstream ships a result schema.
const SCHEMAS = {
  "connect": "HelloOkSchema",
  "agent.identity.get": "AgentIdentityResultSchema",
  "channels.pairing.list": "ChannelsPairingListResultSchema",
  "channels.status": "ChannelsStatusResultSchema",
  "logs.tail": "LogsTailResultSchema",
  "mentions.list": "MentionsListResultSchema",
  "plugins.list": "PluginsListResultSchema",
  "progressCard.get": "ProgressCardGetResultSchema",
  "projects.list": "ProjectsListResultSchema",
  "question.list": "QuestionListResultSchema",
  "session.discussion.info": "SessionDiscussionInfoResultSchema",
  "session.members.listEvidence": "SessionMembersListEvidenceResultSchema",
  "sessions.branches.list": "SessionsBranchesListResultSchema",
  "sessions.catalog.list": "SessionsCatalogListResultSchema",
  "sessions.companion.state": "SessionsCompanionStateResultSchema",
  "sessions.create": "SessionsCreateResultSchema",
  "sessions.github.options": "SessionGitHubOptionsResultSchema",
  "sessions.groups.defaults": "SessionsGroupsDefaultsResultSchema",
  "sessions.groups.list": "SessionsGroupsListResultSchema",
  "sessions.observer.visibility": "SessionsObserverVisibilityResultSchema",
  "system.info": "SystemInfoResultSchema",
  "talk.catalog": "TalkCatalogResultSchema",
  "taskSuggestions.list": "TaskSuggestionsListResultSchema",
  "tasks.list": "TasksListResultSchema",
  "update.status": "UpdateStatusResultSchema",
};

// Schema exports live in a few dist modules; their export names are
// minified, so read each module's export list to map real names.
const exported = new Map();
for (const f of fs.readdirSync(dist).filter((f) => f.endsWith(".mjs"))) {
  const src = fs.readFileSync(path.join(dist, f), "utf8");
  if (!src.includes("ResultSchema") && !src.includes("HelloOkSchema")) continue;
  const i = src.lastIndexOf("export {");
  if (i < 0) continue;
  for (const m of src.slice(i).matchAll(/([A-Za-z0-9_$]+) as ([A-Za-z0-9_$]+)/g)) {
    if (Object.values(SCHEMAS).includes(m[1]) && !exported.has(m[1])) exported.set(m[1], [f, m[2]]);
  }
}
const ajv = new Ajv({ strict: false, allErrors: true });
const validators = new Map();
async function validator(name) {
  if (validators.has(name)) return validators.get(name);
  const hit = exported.get(name);
  let v = null;
  if (hit) {
    const mod = await import(pathToFileURL(path.join(dist, hit[0])).href);
    const schema = mod[hit[1]];
    if (schema) v = ajv.compile(JSON.parse(JSON.stringify(schema)));
  }
  validators.set(name, v);
  return v;
}

const answers = JSON.parse(fs.readFileSync(answersFile, "utf8"));
const checked = new Set();
const failures = [];
const missing = new Set();
for (const { method, payload } of answers) {
  const name = SCHEMAS[method];
  if (!name) continue;
  const v = await validator(name);
  if (!v) {
    missing.add(name);
    continue;
  }
  checked.add(method);
  if (!v(payload)) {
    const errors = v.errors.filter((e) => e.keyword !== "additionalProperties");
    if (errors.length) failures.push({ method, errors: errors.slice(0, 5) });
  }
}
console.log(JSON.stringify({ checked: [...checked].sort(), missingSchemas: [...missing], failures }));
