import { StowageError, describeValue, type StowageErrorIssue } from "../errors.ts";
import { isPlainObject } from "../json.ts";
import { isCollectionName } from "../names.ts";
import type { DocSchema } from "./rules.ts";

/**
 * Per-collection validators from JSON Schemas (draft 2020-12, through ajv; `serve --schema`).
 * `schemas` maps a collection name to its schema. The validated value is the document as it
 * would be stored, `id` included, so a schema with `additionalProperties: false` must list `id`.
 * A schema ajv cannot compile is a `config` error naming the collection. Async because ajv is
 * loaded only here: a server without JSON Schemas never pays for it.
 */
export async function jsonSchemaValidators(schemas: Record<string, unknown>): Promise<Record<string, DocSchema>> {
  if (!isPlainObject(schemas)) throw new StowageError("config", `the schema file must be a JSON object mapping collection names to JSON Schemas, got ${describeValue(schemas)}`);
  // allErrors: the client records every problem at once; strict off: schemas written for other tools may carry extra keywords.
  const { default: Ajv2020 } = await import("ajv/dist/2020.js");
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const out: Record<string, DocSchema> = {};
  for (const [collection, schema] of Object.entries(schemas)) {
    if (!isCollectionName(collection)) throw new StowageError("config", `the schema file names an invalid collection ${describeValue(collection)}: use [a-z][a-z0-9_]{0,62}`);
    if (!isPlainObject(schema) && typeof schema !== "boolean") throw new StowageError("config", `the schema of ${collection} must be a JSON Schema object`);
    let validate: ReturnType<typeof ajv.compile>;
    try {
      validate = ajv.compile(schema as object);
    } catch (e) {
      throw new StowageError("config", `the JSON Schema of ${collection} does not compile: ${(e as Error).message}`, { cause: e });
    }
    out[collection] = (value) => {
      if (validate(value)) return undefined;
      const errors = validate.errors ?? [];
      const issues: StowageErrorIssue[] = errors.slice(0, 20).map((e) => ({
        path: e.instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~")),
        message: e.message ?? e.keyword,
      }));
      return { message: ajv.errorsText(errors.slice(0, 20), { dataVar: "value" }), issues };
    };
  }
  return out;
}
