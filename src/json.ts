import { StowageError, describeValue } from "./errors.ts";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Throws unless `value` is a JSON object (not an array, not a class instance). */
export function assertJsonObject(value: unknown, what = "document"): JsonObject {
  if (!isPlainObject(value)) {
    throw new StowageError("input", `${what} must be a JSON object, got ${describeValue(value)}`);
  }
  return value as JsonObject;
}

/**
 * JSON Merge Patch (RFC 7386): objects merge key by key, `null` removes a key,
 * anything else replaces. Returns a new value; inputs are not modified.
 */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isPlainObject(patch)) return patch;
  const result: JsonObject = isPlainObject(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch as JsonObject)) {
    if (value === null) delete result[key];
    // defineProperty, not assignment: JSON.parse yields own "__proto__" keys, and assigning
    // one would replace the result's prototype instead of storing a field.
    else Object.defineProperty(result, key, { value: mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
