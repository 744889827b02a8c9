import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { syncRulesSuite } from "./suite.ts";

if (await pgAvailable("sync rules on PostgreSQL")) syncRulesSuite("postgres", () => pgTestAdapter());
