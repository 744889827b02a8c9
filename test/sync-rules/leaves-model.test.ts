import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { leavesModel } from "./leaves-model.ts";

leavesModel("sqlite", () => undefined);
if (await pgAvailable("leaves model on PostgreSQL")) leavesModel("postgres", () => pgTestAdapter());
