// Validates OpenAPI documents: node openapi_validate.mjs <file.json>...
// Runs SwaggerParser.validate, then checks what it leaves out for OpenAPI 3.1: each
// path template parameter is declared `in: path` on every operation (and no other),
// and operationIds are unique. Exits 0 when every document passes, 1 otherwise.
import SwaggerParser from "@apidevtools/swagger-parser";
import { readFile } from "node:fs/promises";

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function checkOperations(api) {
  const problems = [];
  const seen = new Map();
  for (const [path, item] of Object.entries(api.paths ?? {})) {
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const declared = [...(item.parameters ?? []), ...(op.parameters ?? [])]
        .filter((p) => p.in === "path")
        .map((p) => p.name)
        .sort();
      if (JSON.stringify(declared) !== JSON.stringify(templated))
        problems.push(`${where}: path parameters [${declared}] do not match the template [${templated}]`);
      if (op.operationId) {
        if (seen.has(op.operationId))
          problems.push(`${where}: operationId ${op.operationId} is also used by ${seen.get(op.operationId)}`);
        seen.set(op.operationId, where);
      }
    }
  }
  return problems;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node openapi_validate.mjs <openapi.json>...");
  process.exit(2);
}

let failed = false;
for (const file of files) {
  try {
    const doc = JSON.parse(await readFile(file, "utf8"));
    const api = await SwaggerParser.validate(structuredClone(doc));
    const problems = checkOperations(doc);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const operations = Object.values(doc.paths ?? {}).reduce(
      (n, item) => n + methods.filter((m) => item[m]).length, 0);
    console.log(`${file}: valid OpenAPI ${api.openapi}, ${operations} operations`);
  } catch (err) {
    failed = true;
    console.error(`${file}: ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
