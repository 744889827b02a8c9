import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Checks a server response against docs/openapi.json: the operation the method and path name
 * (or, for unknown routes and methods, the error body), its response for the status (or
 * `default`), content type and body. Used by the server suite's client on every response.
 */
const DOC = JSON.parse(readFileSync(join(import.meta.dir, "../../docs/openapi.json"), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: "openapi", ...DOC }, "openapi");
const compiled = new Map<string, ValidateFunction>();

const templates = Object.keys(DOC.paths).map((t) => ({
  template: t,
  re: new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`),
}));

function validator(pointer: string): ValidateFunction {
  let v = compiled.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: `openapi#${pointer}` });
    compiled.set(pointer, v);
  }
  return v;
}

const esc = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** The operation `method` `url` names in the document (the path under `basePath`), if any. */
export function openApiOperation(method: string, url: string, basePath = ""): { template: string; op: any } | undefined {
  let path = new URL(url, "http://x").pathname;
  if (basePath) path = path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : "";
  const match = templates.find((t) => t.re.test(path));
  const op = match ? DOC.paths[match.template][method.toLowerCase()] : undefined;
  return op ? { template: match!.template, op } : undefined;
}

/**
 * Answers a description of the mismatch, or undefined when the response conforms. With
 * `headers`, the headers the document declares for that answer are checked too: each
 * required one present, each present one matching its schema.
 */
export function openApiMismatch(method: string, url: string, status: number, contentType: string | null, body: unknown, headers?: Headers, basePath = ""): string | undefined {
  const path = new URL(url, "http://x").pathname;
  const found = openApiOperation(method, url, basePath);
  const match = found && { template: found.template };
  const op = found?.op;
  let pointer: string;
  if (!op) {
    if (status < 400) return `${method} ${path} answered ${status} but the document has no such operation`;
    pointer = "/components/schemas/ErrorBody";
  } else {
    const key = String(status) in op.responses ? String(status) : "default";
    const response = op.responses[key];
    if (!response) return `${method} ${match!.template}: status ${status} is not documented`;
    if (headers) {
      const problem = headerMismatch(response.headers ?? {}, headers);
      if (problem) return `${method} ${match!.template} ${status}: ${problem}`;
    }
    if (!response.content) return body === undefined ? undefined : `${method} ${match!.template} ${status}: the document says no body, got ${JSON.stringify(body).slice(0, 100)}`;
    const [type] = Object.keys(response.content ?? {});
    if (type === "text/event-stream") return contentType?.startsWith(type) ? undefined : `${method} ${path}: expected ${type}, got ${contentType}`;
    pointer = `/paths/${esc(match!.template)}/${method.toLowerCase()}/responses/${key}/content/application~1json/schema`;
  }
  if (!contentType?.startsWith("application/json")) return `${method} ${path} ${status}: content-type ${contentType} is not application/json`;
  const v = validator(pointer);
  if (v(body)) return undefined;
  return `${method} ${path} ${status} does not match docs/openapi.json ${pointer}: ${ajv.errorsText(v.errors)}; body ${JSON.stringify(body).slice(0, 300)}`;
}

/** Declared headers against received ones (names case-insensitive). */
function headerMismatch(declared: Record<string, { $ref?: string }>, received: Headers): string | undefined {
  for (const [name, ref] of Object.entries(declared)) {
    const h = ref.$ref ? DOC.components.headers[ref.$ref.split("/").pop()!] : ref;
    const value = received.get(name);
    if (value === null) {
      if (h.required) return `header ${name} is required but absent`;
      continue;
    }
    const pattern = h.schema?.pattern;
    if (pattern && !new RegExp(pattern).test(value)) return `header ${name}: ${JSON.stringify(value)} does not match ${pattern}`;
  }
  return undefined;
}

/** Throws (failing the test) when the response does not match the document. */
export function assertOpenApi(method: string, url: string, status: number, contentType: string | null, body: unknown, headers?: Headers, basePath = ""): void {
  const problem = openApiMismatch(method, url, status, contentType, body, headers, basePath);
  if (problem) throw new Error(`OpenAPI mismatch: ${problem}`);
}
