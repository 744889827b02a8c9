import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { anchorsFuzz } from "./anchors-fuzz.ts";

anchorsFuzz("sqlite", () => undefined);
if (await pgAvailable("anchors fuzz on PostgreSQL")) anchorsFuzz("postgres", () => pgTestAdapter());
