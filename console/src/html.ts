import { h } from "preact";
import htm from "htm";

/** JSX-like templates without a compile step for markup: tagged templates, no eval (CSP-safe). */
export const html = htm.bind(h);
