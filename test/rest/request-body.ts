/**
 * The reference APIs' request body: a JSON object, or null for anything else (they answer that
 * with their own 400). Bodies over 64 KiB are a 413: the validation refusal the tests provoke.
 */
export async function readObjectBody(req: Request): Promise<{ body: Record<string, unknown> | null } | { refused: Response }> {
  if (req.method === "GET" || req.method === "DELETE") return { body: null };
  const text = await req.text();
  if (text.length > 65_536) return { refused: Response.json({ error: { code: "too_large", message: "body too large" } }, { status: 413 }) };
  try {
    const parsed = JSON.parse(text);
    return { body: parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : null };
  } catch {
    return { body: null };
  }
}
