/**
 * Sync rules (issue 34, docs/PROTOCOL.md "Sync rules"): who may read and write which
 * documents of a tenant, and the views (subscriptions within the rules) every read path asks.
 */
import { StowageError } from "../../errors.ts";
import { checkRules, type SyncRules } from "./check.ts";
import { RulesError } from "./parse.ts";

export type { SyncRules };
export { RulesError };

/** A rules file's text checked, or a `config` StowageError reading `FILE:LINE: message`. */
export function loadRules(text: string, file = "rules"): SyncRules {
  try {
    return checkRules(text);
  } catch (e) {
    if (e instanceof RulesError) throw new StowageError("config", `${file}:${e.line}: ${e.message}`);
    throw e;
  }
}

/** What `createServerHandler({ rules })` takes: the file's text, or rules loaded already. */
export function rulesOption(rules: string | SyncRules | undefined): SyncRules | undefined {
  if (rules === undefined) return undefined;
  return typeof rules === "string" ? loadRules(rules) : rules;
}
