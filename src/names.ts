import { StowageError, describeValue } from "./errors.ts";

export const COLLECTION = /^[a-z][a-z0-9_]{0,62}$/;
// Ids travel in URL paths and SQL parameters: printable, no slashes, bounded.
export const DOC_ID = /^[A-Za-z0-9._~:@+=-]{1,200}$/;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/;

export function isCollectionName(name: unknown): name is string {
  return typeof name === "string" && COLLECTION.test(name);
}

export function assertCollectionName(name: unknown): string {
  if (!isCollectionName(name)) {
    throw new StowageError(
      "input",
      `invalid collection name ${describeValue(name)}: use [a-z][a-z0-9_]{0,62}`,
    );
  }
  return name;
}

export function isDocId(id: unknown): id is string {
  return typeof id === "string" && DOC_ID.test(id) && id !== "." && id !== "..";
}

export function assertDocId(id: unknown): string {
  if (!isDocId(id)) {
    throw new StowageError(
      "input",
      `invalid document id ${describeValue(id)}: use 1-200 characters from A-Z a-z 0-9 . _ ~ : @ + = -`,
    );
  }
  return id;
}

/** A field path as used in filters, ordering and indexes: `done`, `author.name`. */
export function assertFieldPath(field: unknown): string {
  if (typeof field !== "string" || !FIELD.test(field)) {
    throw new StowageError("input", `invalid field name ${describeValue(field)}`);
  }
  return field;
}

/** The SQLite JSON path for a validated field path. */
export function jsonPath(field: string): string {
  return `$.${field}`;
}
