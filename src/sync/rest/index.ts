export { parseRestConfigText, resolveRestConfig, type RestConfig, type ResolvedRestConfig } from "./config.ts";
export { RestClient } from "./client.ts";
export { restTransport } from "./transport.ts";
export { RestCollection } from "./collection.ts";
