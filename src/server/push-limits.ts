/** Push limits the server enforces beyond the zod schema. */
export interface PushLimits {
  /** Largest JSON text of one value, in characters. */
  maxValueChars: number;
  /** Deepest nesting of a value. */
  maxValueDepth: number;
}
