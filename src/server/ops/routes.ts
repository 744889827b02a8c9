/**
 * The route template of a path, for metric labels and log lines. Raw paths would make one
 * series per document id (unbounded cardinality) and put document ids in metrics; anything
 * unknown collapses to `other`.
 */
export function routeTemplate(pathname: string): string {
  switch (pathname) {
    case "/v1/health":
    case "/v1/push":
    case "/v1/pull":
    case "/v1/events":
    case "/v1/openapi.json":
    case "/metrics":
      return pathname;
  }
  const parts = pathname.split("/");
  if (parts[1] === "v1" && parts[2] === "docs") {
    if (parts.length === 4) return "/v1/docs/:collection";
    if (parts.length === 5) return "/v1/docs/:collection/:id";
  }
  return "other";
}
