/**
 * `serve` flags for running the server inside an existing system: JWT verification, API keys
 * on or off, per-collection JSON Schemas, a base path. Kept out of serve.ts, which only
 * spreads EMBED_FLAGS and embedOptions() into its own.
 */
import { StowageError, describeValue } from "../errors.ts";
import type { JwtOptions } from "../server/auth/jwt.ts";
import type { ServerHandlerOptions } from "../server/handler.ts";
import type { FlagSpec, FlagValue } from "./args.ts";
import type { CliContext } from "./context.ts";

export const EMBED_FLAGS: FlagSpec[] = [
  { name: "jwt-secret", type: "string", env: "STOWAGE_JWT_SECRET", value: "SECRET", help: "accept HS256 JWTs signed with this secret (32+ bytes; prefer the env var)" },
  { name: "jwt-jwks", type: "string", env: "STOWAGE_JWT_JWKS", value: "FILE|URL", help: "accept RS256/ES256 JWTs verified by this JWK Set (a JSON file or an https URL); with --jwt-secret, either verifies" },
  { name: "jwt-alg", type: "string", env: "STOWAGE_JWT_ALG", value: "ALG", help: "the algorithms --jwt-secret verifies (default HS256; comma-separated: HS256, HS384, HS512)" },
  { name: "jwt-allow-no-exp", type: "boolean", env: "STOWAGE_JWT_ALLOW_NO_EXP", help: "accept JWTs without an exp claim (default: refused, such a token never expires)" },
  { name: "jwt-audience", type: "string", env: "STOWAGE_JWT_AUDIENCE", value: "AUD", help: "require this aud claim (comma-separated: any of them)" },
  { name: "jwt-issuer", type: "string", env: "STOWAGE_JWT_ISSUER", value: "ISS", help: "require this iss claim (comma-separated: any of them)" },
  { name: "jwt-tenant-claim", type: "string", env: "STOWAGE_JWT_TENANT_CLAIM", value: "CLAIM", help: "the claim naming the tenant (default sub; a new tenant is created on first sight)" },
  { name: "api-keys", type: "boolean", env: "STOWAGE_API_KEYS", help: "accept stowage API keys beside JWTs (default on; --no-api-keys for JWT only)" },
  { name: "schema", type: "string", env: "STOWAGE_SCHEMA", value: "FILE", help: "JSON file mapping collection -> JSON Schema (2020-12); invalid writes are rejected" },
  { name: "rules", type: "string", env: "STOWAGE_RULES", value: "FILE", help: "sync rules: per collection, which documents each principal may read and write (docs/PROTOCOL.md)" },
  { name: "base-path", type: "string", env: "STOWAGE_BASE_PATH", value: "PATH", help: "serve the routes under PATH, e.g. /sync; clients then use URL/sync (default: the root)" },
];

/** The handler options these flags ask for (nothing when none is given). */
export async function embedOptions(ctx: CliContext, flags: Record<string, FlagValue>): Promise<Partial<ServerHandlerOptions>> {
  const out: Partial<ServerHandlerOptions> = {};
  const secret = flags["jwt-secret"] as string | undefined;
  const jwks = flags["jwt-jwks"] as string | undefined;
  const list = (v: FlagValue) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
  if (secret !== undefined || jwks !== undefined) {
    const jwt: JwtOptions = {};
    // Both may be given: either verifies (rotating from a shared secret to asymmetric keys).
    if (secret !== undefined) jwt.secret = secret;
    if (jwks !== undefined && /^https?:\/\//i.test(jwks)) jwt.jwks = jwks;
    else if (jwks !== undefined) jwt.jwks = parseJson(await ctx.io.readText(jwks), `--jwt-jwks ${jwks}`) as JwtOptions["jwks"];
    const algs = list(flags["jwt-alg"]);
    if (algs !== undefined) {
      if (secret === undefined) throw new StowageError("config", "--jwt-alg applies to --jwt-secret (a JWKS pins each key's own alg)");
      jwt.algorithms = algs.map((a) => a.toUpperCase());
    }
    if (flags["jwt-allow-no-exp"] === true) jwt.allowNoExp = true;
    const audience = list(flags["jwt-audience"]);
    const issuer = list(flags["jwt-issuer"]);
    if (audience?.length) jwt.audience = audience;
    if (issuer?.length) jwt.issuer = issuer;
    if (flags["jwt-tenant-claim"] !== undefined) jwt.tenantClaim = flags["jwt-tenant-claim"] as string;
    out.jwt = jwt;
  } else {
    for (const f of ["jwt-audience", "jwt-issuer", "jwt-tenant-claim", "jwt-alg", "jwt-allow-no-exp"]) {
      if (flags[f] !== undefined) throw new StowageError("config", `--${f} needs --jwt-secret or --jwt-jwks`);
    }
  }
  if (flags["api-keys"] === false) {
    if (!out.jwt) throw new StowageError("config", "--no-api-keys needs --jwt-secret or --jwt-jwks: nothing else could authenticate");
    out.apiKeys = false;
  }
  if (flags.schema !== undefined) {
    const file = flags.schema as string;
    const { jsonSchemaValidators } = await import("../server/json-schema.ts");
    out.schemas = await jsonSchemaValidators(parseJson(await ctx.io.readText(file), `--schema ${file}`) as Record<string, unknown>);
  }
  if (flags.rules !== undefined) {
    const file = flags.rules as string;
    const { loadRules } = await import("../server/sync-rules/index.ts");
    out.rules = loadRules(await ctx.io.readText(file), file);
  }
  if (flags["base-path"] !== undefined) out.basePath = flags["base-path"] as string;
  return out;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StowageError("config", `${what}: not valid JSON: ${describeValue((e as Error).message)}`);
  }
}
