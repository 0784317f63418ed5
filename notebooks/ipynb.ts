/**
 * Notebooks as this folder writes and reads them: the cells of a source file
 * (`notebooks/<name>.ts`) and nbformat 4 JSON.
 */

/** One cell of a notebook source. */
export interface Cell {
  type: "markdown" | "code";
  id: string;
  source: string;
}

/** One output of an executed code cell (nbformat 4). */
export interface Output {
  output_type: "stream" | "display_data" | "execute_result" | "error";
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[] | object>;
  ename?: string;
  evalue?: string;
}

/** An executed notebook as nbformat 4 JSON, the parts read here. */
export interface Notebook {
  cells: {
    cell_type: string;
    id?: string;
    source: string | string[];
    outputs?: Output[];
    execution_count?: number | null;
  }[];
  metadata: Record<string, unknown>;
}

/**
 * The cells of a notebook source: a TypeScript module cut at lines
 * `// %% <id>` (a code cell) and `// %% [markdown] <id>` (a Markdown cell,
 * every line a comment, `// ` stripped). Lines before the first marker are
 * the file's own comment and belong to no cell; blank lines around a cell are
 * dropped. Ids are unique, letters, digits and dashes.
 */
export function parseCells(text: string): Cell[] {
  const cells: Cell[] = [];
  let current: { type: Cell["type"]; id: string; lines: string[] } | null = null;
  const flush = () => {
    if (!current) return;
    const lines = current.lines;
    while (lines.length && lines[0].trim() === "") lines.shift();
    while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
    if (!lines.length) throw new Error(`cell ${current.id} is empty`);
    cells.push({ type: current.type, id: current.id, source: lines.join("\n") });
  };
  text.split("\n").forEach((line, i) => {
    const marker = line.match(/^\/\/ %%(?: \[(markdown)\])? ([a-z0-9-]+)\s*$/);
    if (marker) {
      flush();
      const id = marker[2];
      if (cells.some((c) => c.id === id) || current?.id === id) throw new Error(`line ${i + 1}: cell id ${id} twice`);
      current = { type: marker[1] ? "markdown" : "code", id, lines: [] };
    } else if (line.startsWith("// %%")) {
      throw new Error(`line ${i + 1}: a cell marker is "// %% <id>" or "// %% [markdown] <id>", got ${line}`);
    } else if (current?.type === "markdown") {
      if (line.trim() !== "" && !/^\/\/( |$)/.test(line)) {
        throw new Error(`line ${i + 1}: a Markdown cell's lines are comments ("// ..."), got ${line}`);
      }
      current.lines.push(line.replace(/^\/\/ ?/, ""));
    } else current?.lines.push(line);
  });
  flush();
  return cells;
}

/** nbformat's way to store text: lines, each but the last ending in "\n". */
export function toLines(text: string): string[] {
  return text.split("\n").map((l, i, all) => (i < all.length - 1 ? `${l}\n` : l)).filter((l) => l !== "");
}

/** A text field of a notebook (a string or a list of lines) as one string. */
export function joined(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join("") : text ?? "";
}

/** The unexecuted notebook of `cells`, for Deno's kernel. */
export function toNotebook(cells: Cell[]): Notebook & { nbformat: number; nbformat_minor: number } {
  return {
    cells: cells.map((c) =>
      c.type === "markdown"
        ? { cell_type: "markdown", id: c.id, metadata: {}, source: toLines(c.source) }
        : { cell_type: "code", execution_count: null, id: c.id, metadata: {}, outputs: [], source: toLines(c.source) }
    ),
    metadata: {
      kernelspec: { display_name: "Deno", language: "typescript", name: "deno" },
      language_info: { file_extension: ".ts", mimetype: "text/x.typescript", name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}
