import type { z } from "zod";
import { StowageError, describeValue } from "../errors.ts";
import { assertJsonObject, type JsonObject } from "../json.ts";

/** Validates a document against an optional zod schema; the schema's output is stored. */
export function validateDoc(collection: string, value: unknown, schema: z.ZodType | undefined): JsonObject {
  const obj = assertJsonObject(value, `document for ${collection}`);
  if (!schema) return checkJsonSafe(collection, obj);
  const result = schema.safeParse(obj);
  if (result.success) return checkJsonSafe(collection, assertJsonObject(result.data, `schema output for ${collection}`));
  const issues = result.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message }));
  const firstIssue = issues[0];
  const where = firstIssue && firstIssue.path.length ? firstIssue.path.join(".") : "document";
  throw new StowageError(
    "input",
    `document for ${collection} fails its schema at ${where}: ${firstIssue?.message ?? "invalid"} (value ${describeValue(obj)})`,
    { issues },
  );
}

/** Rejects values JSON cannot carry faithfully (NaN, Infinity, bigint, class instances). */
function checkJsonSafe(collection: string, obj: JsonObject): JsonObject {
  // Hot path for putMany: a walk with no allocations; the path is only built on failure.
  if (isJsonSafe(obj)) return obj;
  const bad = findUnsafe(obj, []);
  throw new StowageError("input", `document for ${collection} has a value JSON cannot hold at ${bad?.join(".") || "root"}`);
}

function isJsonSafe(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] === undefined || !isJsonSafe(value[i])) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value as Record<string, unknown>) if (!isJsonSafe((value as Record<string, unknown>)[key])) return false;
      return true;
    }
    default:
      return false;
  }
}

function findUnsafe(value: unknown, path: (string | number)[]): (string | number)[] | null {
  if (isJsonSafe(value)) return null;
  if (typeof value === "object" && value !== null) {
    const proto = Object.getPrototypeOf(value);
    if (Array.isArray(value) || proto === Object.prototype || proto === null) {
      for (const [key, v] of Object.entries(value)) {
        if (v === undefined && Array.isArray(value)) return [...path, Number(key)];
        const found = findUnsafe(v, [...path, Array.isArray(value) ? Number(key) : key]);
        if (found) return found;
      }
    }
  }
  return path;
}
