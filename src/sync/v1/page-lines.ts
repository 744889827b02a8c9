import { COLLECTION, DOC_ID } from "../../names.ts";
import type { StageRow } from "../../store/pull-stage.ts";

/**
 * A pull page in the line layout (docs/PROTOCOL.md "Page layout"), read without parsing the
 * documents: each change is one line, so its value's JSON text is the stretch between the
 * line's fixed head and tail, and is staged as it came. For a large pull this saves parsing
 * every document into objects and serializing it again (a third of the client's work per
 * page). Only the staged path uses it (cycle.ts): a page applied alone goes through
 * parsePage, which builds the values its rebase and events need.
 */
export interface LinedPage {
  changes: StageRow[];
  /** How many of the changes are deletes (a tombstone's row has the empty body). */
  deletes: number;
  cursor: string;
  more: boolean;
  collections: string[];
}

const START = '{"changes":[\n';
/** A change's line up to its value, with the names' own rules (names.ts) in it: one sticky regex per line, run on the page in place. */
const HEAD = new RegExp(`\\{"collection":"(${bare(COLLECTION)})","id":"(${bare(DOC_ID)})","version":([0-9]{1,16}),"value":`, "y");
const LIVE = ',"deleted":false}';
const DEAD = ',"deleted":true}';
const END = /^\],"cursor":"([^"\\]*)","more":(true|false)\}\s*$/;

/**
 * The page, when it is in the line layout and every line is as the layout says; null
 * otherwise (an older server, another layout, a reset, anything malformed), and the caller
 * parses it as JSON, with its checks and errors. A value is taken as its server sent it;
 * only its outer braces are checked (JSON.parse checked no more about a document's content
 * than that it is an object, and the server stores only JSON objects).
 */
export function linedPage(text: string): LinedPage | null {
  if (!text.startsWith(START)) return null;
  const changes: StageRow[] = [];
  const collections = new Set<string>();
  let deletes = 0;
  let at = START.length;
  /** The previous line ended in a comma: another change follows. */
  let next = true;
  for (;;) {
    if (!next) {
      // After the last change, only the closing line.
      const tail = END.exec(text.slice(at));
      if (!tail || changes.length === 0) return null;
      return { changes, deletes, cursor: tail[1], more: tail[2] === "true", collections: [...collections] };
    }
    const end = text.indexOf("\n", at);
    if (end < 0) return null;
    next = text.charCodeAt(end - 1) === 44; /* , */
    const stop = next ? end - 1 : end;
    HEAD.lastIndex = at;
    const head = HEAD.exec(text);
    at = end + 1;
    if (!head || head[2] === "." || head[2] === "..") return null;
    const version = Number(head[3]);
    if (!Number.isSafeInteger(version)) return null;
    let body: string;
    if (text.startsWith(LIVE, stop - LIVE.length)) {
      body = text.slice(HEAD.lastIndex, stop - LIVE.length);
      if (body.charCodeAt(0) !== 123 || body.charCodeAt(body.length - 1) !== 125 /* } */) return null;
    } else if (text.startsWith(DEAD, stop - DEAD.length) && HEAD.lastIndex <= stop - DEAD.length) {
      body = "";
      deletes++;
    } else {
      return null;
    }
    if (!collections.has(head[1])) collections.add(head[1]);
    changes.push({ collection: head[1], id: head[2], version, body });
  }
}

/** A whole-string pattern's body, without its anchors. */
function bare(whole: RegExp): string {
  return whole.source.replace(/^\^/, "").replace(/\$$/, "");
}
