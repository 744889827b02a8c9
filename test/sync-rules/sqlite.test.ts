import { syncRulesSuite } from "./suite.ts";

syncRulesSuite("sqlite", () => undefined);
