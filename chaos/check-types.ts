/** The checker's types: what check.ts and check-reads.ts both read, so neither imports the other. */

export interface Line {
  p: string;
  f: number;
  at: number;
  t: string;
  [k: string]: any;
}

export interface ServerFinal {
  seq: number;
  docs: Map<string, { seq: number; deleted: boolean; body: string | null }>;
}

export interface ClientFinal {
  file: number;
  docs: Map<string, { body: string; version: number | null }>;
  outbox: number;
  conflicts: { opId: number; kind: string; id: string; op: string }[];
}

export interface Violation {
  rule: string;
  message: string;
}

export interface CheckOptions {
  /** Judge atomic visibility (guarantee 9); on by default. */
  atomic?: boolean;
}

export interface OpInfo {
  clientId: string;
  opId: number;
  op: string;
  id: string;
  tok: string | null;
  tx: number | null;
  g: string | null;
}

/** What the history says about ops and versions, as check() learnt it; the read rules use it. */
export interface Facts {
  histories: Map<string, Line[]>;
  all: Line[];
  ops: Map<string, OpInfo>;
  byToken: Map<string, string>;
  applied: Map<string, Set<number>>;
  refused: Set<string>;
  verOf: Map<string, number>;
  groups: Map<string, OpInfo[]>;
  tokenWriterFile: Map<string, number>;
  fileClient: Map<number, string>;
  k: (clientId: string, opId: number) => string;
  /** Documents the file's own client deleted. */
  ownDeletesOf: (f: number) => Set<string>;
  /** Whether the op that wrote this token was refused. */
  refusedToken: (tok: string | null) => boolean;
  /** Whether a delete of `id` was ordered after version `after` (or may have been). */
  laterDelete: (id: string, after: number) => boolean;
}
