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

/** Answers a description of the mismatch, or undefined when the response conforms. */
export function openApiMismatch(method: string, url: string, status: number, contentType: string | null, body: unknown): string | undefined {
  const path = new URL(url, "http://x").pathname;
  const match = templates.find((t) => t.re.test(path));
  const op = match ? DOC.paths[match.template][method.toLowerCase()] : undefined;
  let pointer: string;
  if (!op) {
    if (status < 400) return `${method} ${path} answered ${status} but the document has no such operation`;
    pointer = "/components/schemas/ErrorBody";
  } else {
    const key = String(status) in op.responses ? String(status) : "default";
    const response = op.responses[key];
    if (!response) return `${method} ${match!.template}: status ${status} is not documented`;
    const [type] = Object.keys(response.content ?? {});
    if (type === "text/event-stream") return contentType?.startsWith(type) ? undefined : `${method} ${path}: expected ${type}, got ${contentType}`;
    pointer = `/paths/${esc(match!.template)}/${method.toLowerCase()}/responses/${key}/content/application~1json/schema`;
  }
  if (!contentType?.startsWith("application/json")) return `${method} ${path} ${status}: content-type ${contentType} is not application/json`;
  const v = validator(pointer);
  if (v(body)) return undefined;
  return `${method} ${path} ${status} does not match docs/openapi.json ${pointer}: ${ajv.errorsText(v.errors)}; body ${JSON.stringify(body).slice(0, 300)}`;
}

/** Throws (failing the test) when the response does not match the document. */
export function assertOpenApi(method: string, url: string, status: number, contentType: string | null, body: unknown): void {
  const problem = openApiMismatch(method, url, status, contentType, body);
  if (problem) throw new Error(`OpenAPI mismatch: ${problem}`);
}
