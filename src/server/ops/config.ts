import { StowageError, describeValue } from "../../errors.ts";
import type { RateLimit } from "../rate-limit.ts";

/**
 * A size like `4MiB`, `512KiB`, `1MB`, `1000000` or `2 GiB`: binary units are powers of 1024,
 * decimal ones powers of 1000, a bare number is bytes.
 */
export function parseSize(name: string, raw: string | number): number {
  if (typeof raw === "number") return checkPositive(name, raw, String(raw));
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?$/i.exec(raw.trim());
  if (!m) throw new StowageError("input", `${name} must be a size like 4MiB, 512KiB or 1000000 (bytes), got ${describeValue(raw)}`);
  const unit = (m[2] ?? "b").toLowerCase();
  const factor: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };
  return checkPositive(name, Math.floor(Number(m[1]) * factor[unit]), raw);
}

function checkPositive(name: string, n: number, raw: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new StowageError("input", `${name} must be at least 1 byte, got ${describeValue(raw)}`);
  return n;
}

/** `RATE[,BURST]` (requests per second per key; burst defaults to twice the rate) or `off`. */
export function parseRateLimit(name: string, raw: string): RateLimit | false {
  const text = raw.trim().toLowerCase();
  if (["off", "false", "0", "none"].includes(text)) return false;
  const m = /^(\d+(?:\.\d+)?)(?:\s*,\s*(\d+))?$/.exec(text);
  const perSecond = m ? Number(m[1]) : NaN;
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.max(1, Math.ceil(perSecond * 2));
  if (!m || !(perSecond > 0) || !Number.isSafeInteger(burst) || burst < 1) {
    throw new StowageError("input", `${name} must be RATE[,BURST] (requests per second per key, e.g. 10000,20000) or off, got ${describeValue(raw)}`);
  }
  return { perSecond, burst };
}
