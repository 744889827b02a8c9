// node-postgres's value conversion (its package `exports` open `pg/lib/*`); @types/pg does not declare it.
declare module "pg/lib/utils" {
  const utils: {
    /** A bound value as node-postgres sends it: text (arrays as array literals, objects as JSON), a Buffer, or null. */
    prepareValue(value: unknown): string | Buffer | null | undefined;
  };
  export default utils;
}
