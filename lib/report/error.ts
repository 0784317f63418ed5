/**
 * The report's refusal of its inputs: a manifest or a CSV it names that it
 * will not publish from. Not for bugs or failed writes, which stay ordinary
 * errors (exit 1).
 */

/** Bad input to the report (the manifest, a CSV it names): printed as one line, exit 2. */
export class ReportError extends Error {}
