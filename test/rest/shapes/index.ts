import type { ShapeOptions, ShapeServer } from "./base.ts";
import { startCrudShape } from "./crud.ts";
import { startEnvelopeShape } from "./envelope.ts";
import { startPocketbaseShape } from "./pocketbase.ts";
import { startSeedShape } from "./seed.ts";

/** The four reference API shapes, by the name of their config file in docs/examples/rest/. */
export const SHAPES: Record<string, (options?: ShapeOptions) => ShapeServer> = {
  seed: startSeedShape,
  envelope: startEnvelopeShape,
  crud: startCrudShape,
  pocketbase: startPocketbaseShape,
};

export type { ShapeServer } from "./base.ts";
