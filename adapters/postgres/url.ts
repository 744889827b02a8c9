/**
 * Whether a location is a PostgreSQL URL (`postgres://` or `postgresql://`). A file of its own,
 * without the driver, so the CLI can tell which server store a `--data` names before loading one.
 */
export function isPostgresUrl(location: string): boolean {
  return URL_RE.test(location);
}

const URL_RE = /^postgres(ql)?:\/\//i;
