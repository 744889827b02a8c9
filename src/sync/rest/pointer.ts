import { StowageError, describeValue } from "../../errors.ts";

/**
 * JSON Pointer (RFC 6901): `""` is the whole value, `/body/local_id` walks into objects,
 * `/items/0` into arrays; `~1` is `/` and `~0` is `~` inside a segment. Config files name
 * every place in an API's answers with one, so an envelope (`/data/id`) or a document kept
 * under a key (`/body`) needs no code.
 */

/** Checks a pointer's syntax (config files are user input); `key` names the setting. */
export function assertPointer(value: unknown, key: string): string {
  if (typeof value !== "string" || (value !== "" && !value.startsWith("/"))) {
    throw new StowageError("config", `rest config: ${key} must be a JSON Pointer ("" or starting with /, e.g. "/data/id"), got ${describeValue(value)}`);
  }
  if (/~[^01]|~$/.test(value)) throw new StowageError("config", `rest config: ${key}: "~" must be written ~0 (and "/" inside a key ~1), got ${describeValue(value)}`);
  return value;
}

function segments(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** The value at `pointer`, or undefined when any step is missing. */
export function resolvePointer(root: unknown, pointer: string): unknown {
  let v: unknown = root;
  for (const s of segments(pointer)) {
    if (Array.isArray(v)) {
      if (!/^(0|[1-9]\d*)$/.test(s)) return undefined;
      v = v[Number(s)];
    } else if (v !== null && typeof v === "object") {
      v = Object.hasOwn(v, s) ? (v as Record<string, unknown>)[s] : undefined;
    } else return undefined;
  }
  return v;
}
