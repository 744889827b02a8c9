import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject, JsonValue } from "../../json.ts";

/**
 * Route and body templates of a REST mapping.
 *
 * Paths: `{resource}`, `{server_id}`, `{id}` (the local id) are replaced, ids URL-encoded,
 * e.g. `{resource}/{server_id}` or `/collections/notes/records/{server_id}`.
 *
 * Bodies: a JSON value where the string `"$doc"` becomes the document (as `toServer` makes
 * it, local id field included), `"$patch"` the merge patch of a patch op, `"$server_id"` the
 * server id (a number when it is all digits, as integer-id APIs want), `"$id"` the local id;
 * `{server_id}` and `{id}` inside other strings are replaced as text. Default body: `"$doc"`.
 */
export interface TemplateVars {
  resource: string;
  serverId?: string | null;
  localId?: string;
}

const PATH_VARS = /\{(resource|server_id|id)\}/g;

/** Checks a path template (`key` names the setting) and which variables it may use. */
export function assertPathTemplate(value: unknown, key: string, needsServerId: boolean): string {
  if (typeof value !== "string" || !(value.startsWith("/") || value.startsWith("{resource}"))) {
    throw new StowageError("config", `rest config: ${key} must be a path template starting with / or {resource}, e.g. "{resource}/{server_id}", got ${describeValue(value)}`);
  }
  const unknown = /\{(?!resource\}|server_id\}|id\})[^}]*\}/.exec(value);
  if (unknown) throw new StowageError("config", `rest config: ${key}: unknown variable ${unknown[0]} (known: {resource}, {server_id}, {id}), got ${describeValue(value)}`);
  if (needsServerId && !value.includes("{server_id}")) {
    throw new StowageError("config", `rest config: ${key} must name the item with {server_id}, e.g. "{resource}/{server_id}", got ${describeValue(value)}`);
  }
  return value;
}

/** Fills a path template. */
export function fillPath(template: string, vars: TemplateVars): string {
  return template.replace(PATH_VARS, (_, name: string) => {
    if (name === "resource") return vars.resource;
    const v = name === "server_id" ? vars.serverId : vars.localId;
    if (v === undefined || v === null) throw new StowageError("config", `path template ${template} needs {${name}}, which this request has none of`);
    return encodeURIComponent(v);
  });
}

/** Fills a body template with the document and ids. */
export function fillBody(template: JsonValue, vars: TemplateVars & { doc: JsonObject; patch?: JsonObject }): JsonValue {
  if (typeof template === "string") {
    if (template === "$doc") return vars.doc;
    if (template === "$patch") return vars.patch ?? vars.doc;
    if (template === "$server_id") {
      const s = vars.serverId ?? null;
      return s !== null && /^\d{1,15}$/.test(s) ? Number(s) : s;
    }
    if (template === "$id") return vars.localId ?? null;
    return template.replace(/\{(server_id|id)\}/g, (_, name: string) => (name === "server_id" ? (vars.serverId ?? "") : (vars.localId ?? "")));
  }
  if (Array.isArray(template)) return template.map((t) => fillBody(t, vars));
  if (template !== null && typeof template === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(template)) out[k] = fillBody(v, vars);
    return out;
  }
  return template;
}

/** Whether a body template places the document somewhere (else writes would send nothing of it). */
export function bodyHasDoc(template: JsonValue): boolean {
  if (template === "$doc" || template === "$patch") return true;
  if (Array.isArray(template)) return template.some(bodyHasDoc);
  if (template !== null && typeof template === "object") return Object.values(template).some(bodyHasDoc);
  return false;
}
