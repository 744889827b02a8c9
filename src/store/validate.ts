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

/** Rejects values JSON cannot carry faithfully (NaN, Infinity, undefined inside arrays, bigint). */
function checkJsonSafe(collection: string, obj: JsonObject): JsonObject {
  const bad = findUnsafe(obj, []);
  if (bad) throw new StowageError("input", `document for ${collection} has a value JSON cannot hold at ${bad.join(".") || "root"}`);
  return obj;
}

function findUnsafe(value: unknown, path: (string | number)[]): (string | number)[] | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : path;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const r = findUnsafe(value[i], [...path, i]);
          if (r) return r;
        }
        return null;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return path;
      for (const key in value as Record<string, unknown>) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined) continue; // JSON.stringify drops it, as callers expect
        const r = findUnsafe(v, [...path, key]);
        if (r) return r;
      }
      return null;
    }
    default:
      return path;
  }
}
