/** What went wrong, as a string callers can branch on. */
export type StowageErrorCode =
  | "transport" // the server could not be reached or the connection broke
  | "protocol" // the server answered something that is not protocol v1
  | "rejected" // the server refused an op or a request
  | "auth" // no usable credentials: the token provider (getToken, --token-command) failed
  | "conflict" // a strict write met a newer version
  | "storage" // the local database failed
  | "closed" // the store or engine was already closed
  | "config" // options or environment are inconsistent
  | "input"; // a caller passed a bad value

export interface StowageErrorIssue {
  /** Where in the input the problem is, e.g. `["title"]`. */
  path: (string | number)[];
  /** What is wrong there. */
  message: string;
}

/** The one error type Stowage throws; `code` says what kind of failure it is. */
export class StowageError extends Error {
  readonly code: StowageErrorCode;
  readonly issues?: StowageErrorIssue[];
  /** HTTP status when the error came from (or is meant for) an HTTP exchange. */
  readonly status?: number;

  constructor(
    code: StowageErrorCode,
    message: string,
    options: { cause?: unknown; issues?: StowageErrorIssue[]; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StowageError";
    this.code = code;
    if (options.issues) this.issues = options.issues;
    if (options.status !== undefined) this.status = options.status;
  }
}

export function isStowageError(e: unknown, code?: StowageErrorCode): e is StowageError {
  return e instanceof StowageError && (code === undefined || e.code === code);
}

/** Shortens a value for an error message so a 10 MB string does not become a 10 MB message. */
export function describeValue(value: unknown, max = 80): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
