// The import rules `npm run lint` checks (ARCHITECTURE.md draws them). A room imports only rooms
// on a lower layer, never one beside or above it, so each layer can be read, tested and replaced
// without the ones above it. Changing a layer here is an architecture decision: say why in the commit.

/** Top to bottom. Each entry: room name -> the path pattern of its files. */
const LAYERS = [
  { cli: "^src/cli/" },
  { index: "^src/index\\.ts$", mcp: "^src/mcp/", server: "^src/server/", conformance: "^src/conformance/" },
  { stowage: "^src/stowage\\.ts$" },
  { sync: "^src/sync/" },
  // The store's collections offer search (store/collection.ts), and search runs on the store's
  // SQL helpers and document types: those two files are a room of their own, below search.
  { store: "^src/store/(?!(sql|types)\\.ts$)" },
  { search: "^src/search/" },
  { "store-sql": "^src/store/(sql|types)\\.ts$" },
  { sqlite: "^src/sqlite/", protocol: "^src/protocol/", runtime: "^src/runtime/" },
  { json: "^src/json\\.ts$", names: "^src/names\\.ts$", adapter: "^src/adapter\\.ts$" },
  { errors: "^src/errors\\.ts$", ids: "^src/ids\\.ts$" },
];

/** One rule per room: nothing on its own layer (but itself) or above it. */
const layerRules = LAYERS.flatMap((layer, depth) =>
  Object.entries(layer).flatMap(([room, path]) => {
    const notBelow = LAYERS.slice(0, depth + 1).flatMap((l) => Object.entries(l).filter(([r]) => r !== room).map(([, p]) => p));
    // An empty pattern list would match every file: the top room has nothing above it.
    if (notBelow.length === 0) return [];
    return [{
      name: `layer-${room}`,
      comment: `${room} imports only rooms on a lower layer (see LAYERS in .dependency-cruiser.cjs)`,
      severity: "error",
      from: { path },
      to: { path: notBelow },
    }];
  }),
);

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles: a cycle makes two files one unit that neither can be read or tested without the other.",
      severity: "error",
      from: { path: "^(src|chaos|adapters)/" },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: "server-not-sync",
      comment: "The server never imports the client's sync engine; they share only src/protocol.",
      severity: "error",
      from: { path: "^src/server/" },
      to: { path: ["^src/sync/", "^src/stowage\\.ts$"] },
    },
    {
      name: "adapters-only-contract",
      comment: "An adapter imports only the adapter contract (src/adapter.ts, src/errors.ts), the shared SQLite driver plumbing, its own files and its driver.",
      severity: "error",
      from: { path: "^adapters/([^/]+)/" },
      to: {
        dependencyTypesNot: ["core", "npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"],
        pathNot: ["^adapters/$1/", "^src/(adapter|errors)\\.ts$", "^src/sqlite/"],
      },
    },
    {
      name: "adapters-loaded-by-cli",
      comment: "Only the CLI's composition root loads an adapter; the library takes one as an argument.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^adapters/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|test|bench|console|lib)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
