/**
 * How the report prints numbers and lists in the findings, and the type of
 * the template fields the sections fill. Not for computing any number: every
 * function here turns a value already computed into text.
 */

/** Template fields: the value that replaces each `{{name}}` in results/findings.template.md. */
export type Fields = Record<string, string | number>;

/** One decimal, or "-" for a value that is not finite. */
export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "-");

/** Two decimals, or "-" for a value that is not finite. */
export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "-");

/** Rounded to a whole number with thousands separators: "12,345". */
export const int = (x: number): string => Math.round(x).toLocaleString("en-US");

/** A fraction (0..1) as a whole percentage, without the sign: 0.254 is "25". */
export const pct0 = (x: number): string => `${Math.round(100 * x)}`;

/** Scientific notation with one decimal: "3.2e-4". */
export const sci = (x: number): string => x.toExponential(1);

/** A fold-change as the number before "-fold": "3,100", or a power of ten ("10^7") from 10^5 up. */
export const fold = (x: number): string => x >= 1e5 ? `10^${Math.round(Math.log10(x))}` : int(Number(x.toPrecision(2)));

/** A list in prose: "1", "1 and 2", "1, 2 and 3". */
export const list = (xs: (string | number)[]): string =>
  xs.length <= 1 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/** The Markdown that shows results/charts/`base`.svg and links its PNG. */
export const chartLine = (base: string, alt: string): string =>
  `![${alt}](charts/${base}.svg)\n\n(PNG: [charts/${base}.png](charts/${base}.png))`;
