// node validate.mjs DIR: validates every Kubernetes manifest in DIR
// (deploy/k8s) against the Kubernetes JSON schemas of the pinned
// kubernetes-models package (each model's validate()), then refuses
// fields the API does not define (the schemas allow unknown fields, so a
// misspelt "readinessProbe" would pass them; the package's type
// declarations list each object's fields). A kustomization.yaml must
// list exactly the other manifests of the folder.
// Run by tests/api/test_deploy.py from build/k8s-validate (where npm ci put the
// packages of package-lock.json). Exit 0 when all is valid, 1 otherwise.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node validate.mjs DIR");
  process.exit(2);
}
const pkgDir = path.dirname(require.resolve("kubernetes-models/package.json"));
const nodeModules = path.dirname(pkgDir);
let failures = 0;
const fail = (where, msg) => {
  failures++;
  console.log(`FAIL ${where}: ${msg}`);
};

// The declaration file of a type, found through the imports of the file
// that names it.
function resolveImport(fromFile, spec) {
  const base = spec.startsWith(".")
    ? path.resolve(path.dirname(fromFile), spec)
    : path.join(nodeModules, spec);
  return base + ".d.ts";
}

// Fields of the interface declared in a .d.ts file: {fields, open}, where
// each field is {type, file}. Cached per file.
const declCache = new Map();
function declaration(file) {
  if (declCache.has(file)) return declCache.get(file);
  let result = null;
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
    const imports = new Map();
    for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g))
      for (const name of m[1].split(",").map((s) => s.trim()))
        imports.set(name, resolveImport(file, m[2]));
    const iface = text.match(/export interface \w+(?: extends ([\w, ]+))? \{\n([\s\S]*?)\n\}/);
    if (iface) {
      const fields = new Map();
      if (iface[1] && iface[1].includes("TypeMeta")) {
        fields.set("apiVersion", { type: "string" });
        fields.set("kind", { type: "string" });
      }
      // Top-level members only: 4 spaces of indentation.
      const re = /^ {4}"([^"]+)"\??: ([\s\S]*?);$(?=\n {4}"|\n?$)/gm;
      for (const m of iface[2].matchAll(re)) fields.set(m[1], parseType(m[2], imports));
      result = { fields };
    }
  }
  declCache.set(file, result);
  return result;
}

function parseType(t, imports) {
  t = t.trim();
  let m;
  if ((m = t.match(/^Array<(\w+)>$/))) return { array: parseType(m[1], imports) };
  if ((m = t.match(/^\{\s*\[key: string\]: (\w+);\s*\}$/))) return { map: parseType(m[1], imports) };
  if (imports.has(t)) return { file: imports.get(t) };
  return { type: t };
}

// Unknown fields of value against type, depth first.
function strict(value, type, where) {
  if (value === null || value === undefined) return;
  if (type.array) {
    if (Array.isArray(value)) value.forEach((v, i) => strict(v, type.array, `${where}[${i}]`));
    return;
  }
  if (type.map) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) strict(v, type.map, `${where}.${k}`);
    return;
  }
  if (!type.file || typeof value !== "object" || Array.isArray(value)) return;
  const decl = declaration(type.file);
  if (!decl) return; // a type alias (Quantity, IntOrString, ...): the schema checked it
  for (const [k, v] of Object.entries(value)) {
    if (!decl.fields.has(k)) fail(where, `unknown field "${k}"`);
    else strict(v, decl.fields.get(k), `${where}.${k}`);
  }
}

const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const seen = new Set();
const kustomizations = [];
let objects = 0;
for (const f of files) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"));
  for (const [i, doc] of docs.entries()) {
    const where = `${f}#${i}`;
    if (doc.errors.length) {
      fail(where, doc.errors.map((e) => e.message).join("; "));
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    if (obj.kind === "Kustomization") {
      kustomizations.push([f, obj]);
      continue;
    }
    if (!obj.apiVersion || !obj.kind) {
      fail(where, "no apiVersion/kind");
      continue;
    }
    const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
    const modPath = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
    let Model;
    try {
      Model = (await import(modPath))[obj.kind];
    } catch (e) {
      Model = undefined;
    }
    if (!Model) {
      fail(where, `no model for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
    if (seen.has(name)) fail(where, `${name} defined twice`);
    seen.add(name);
    try {
      new Model(obj).validate();
    } catch (e) {
      fail(`${where} ${name}`, e.message);
      continue;
    }
    const declFile = path.join(pkgDir, group || "", version, `${obj.kind}.d.ts`);
    const before = failures;
    if (!declaration(declFile)) fail(where, `no declaration ${declFile}`);
    else strict(obj, { file: declFile }, `${f} ${name}`);
    objects++;
    if (failures === before) console.log(`ok   ${f} ${obj.apiVersion} ${name}`);
  }
}
for (const [f, k] of kustomizations) {
  const listed = new Set(k.resources || []);
  for (const r of listed) if (!files.includes(r)) fail(f, `lists ${r}, which is not in ${dir}`);
  for (const other of files)
    if (other !== f && !listed.has(other)) fail(f, `does not list ${other}`);
}
console.log(`${objects} objects, ${failures} problems`);
process.exit(failures ? 1 : 0);
