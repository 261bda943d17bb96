// Validates Kubernetes objects against the Kubernetes OpenAPI schemas, as
// compiled by the npm package kubernetes-models (offline: no cluster, no
// download). Types, formats, enums and required fields are checked; unknown
// fields are not (the schemas leave additionalProperties open).
//
// Usage: node validate.mjs NODE_MODULES OBJECTS.json
//   OBJECTS.json: a JSON array of objects (kustomize_render.py's output).
// Prints one line per object; exits 1 if any fails, 2 on bad usage.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, file] = process.argv.slice(2);
if (!nodeModules || !file) {
  console.error("usage: node validate.mjs NODE_MODULES OBJECTS.json");
  process.exit(2);
}
const models = join(nodeModules, "kubernetes-models");
let objects;
try {
  objects = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`validate: ${file}: ${e.message}`);
  process.exit(2);
}
if (!Array.isArray(objects)) {
  console.error(`validate: ${file}: want a JSON array of objects`);
  process.exit(2);
}

let bad = 0;
for (const [i, o] of objects.entries()) {
  const where = `${o?.kind ?? "?"}/${o?.metadata?.name ?? "#" + i}`;
  if (typeof o?.apiVersion !== "string" || typeof o?.kind !== "string" || !/^[A-Z][A-Za-z0-9]*$/.test(o.kind)) {
    console.log(`FAIL ${where}: no apiVersion or kind`);
    bad++;
    continue;
  }
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  const path = join(models, group, version, `${o.kind}.js`);
  if (!/^[a-z0-9.]*$/.test(group) || !/^v[0-9a-z]+$/.test(version) || !existsSync(path)) {
    console.log(`FAIL ${where}: kubernetes-models has no schema for ${o.apiVersion} ${o.kind}`);
    bad++;
    continue;
  }
  const mod = await import(pathToFileURL(path).href);
  try {
    new mod[o.kind](o).validate();
    console.log(`ok   ${where} (${o.apiVersion})`);
  } catch (e) {
    console.log(`FAIL ${where}: ${e.message}`);
    bad++;
  }
}
console.log(`${objects.length - bad} of ${objects.length} objects valid`);
process.exit(bad ? 1 : 0);
