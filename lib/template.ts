/**
 * Published text whose numbers come from data: `{{name}}` fields filled from
 * a record, and generated blocks of a hand-written file replaced in place.
 */

/** A template names a value nobody computed, or a block nothing generates. */
export class TemplateError extends Error {}

/**
 * Fills every `{{name}}` in `text` from `fields`. A field the text names but
 * `fields` lacks is an error, so a template never prints a stale or missing
 * number. Fields the text does not name are ignored.
 *
 * @example
 * ```ts
 * import { fillTemplate } from "./template.ts";
 * fillTemplate("{{k}}/{{n}} seeds", { k: "5", n: "20" }); // "5/20 seeds"
 * ```
 */
export function fillTemplate(text: string, fields: Record<string, string | number>, where = "template"): string {
  return text.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) => {
    if (!(name in fields)) throw new TemplateError(`${where}: no value for {{${name}}}`);
    return String(fields[name]);
  });
}

/**
 * Replaces the body of each `<!-- generated:NAME -->` ... `<!-- /generated:NAME -->`
 * block in `text` with `blocks[NAME]`, keeping the markers. Every block in the
 * text must be given and every given block must be in the text.
 *
 * @example
 * ```ts
 * import { replaceBlocks } from "./template.ts";
 * replaceBlocks("a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb", { x: "new" });
 * // "a\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nb"
 * ```
 */
export function replaceBlocks(text: string, blocks: Record<string, string>, where = "text"): string {
  const seen = new Set<string>();
  const out = text.replace(
    /(<!-- generated:([\w-]+) -->\n)[\s\S]*?(\n?<!-- \/generated:\2 -->)/g,
    (_, open: string, name: string, close: string) => {
      if (!(name in blocks)) throw new TemplateError(`${where}: nothing generates block ${name}`);
      seen.add(name);
      return `${open}${blocks[name].replace(/\n+$/, "")}\n${close.replace(/^\n/, "")}`;
    },
  );
  const missing = Object.keys(blocks).filter((k) => !seen.has(k));
  if (missing.length) throw new TemplateError(`${where}: no marked block for ${missing.join(", ")}`);
  return out;
}
