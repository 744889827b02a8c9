import type { CycleContext } from "../transport.ts";
import type { HttpClient } from "./http.ts";

/** What protocol v1's steps get: the engine's context plus the v1 client (the seam has none). */
export interface V1Context extends CycleContext {
  http: HttpClient;
}
