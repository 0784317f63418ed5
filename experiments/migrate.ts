/**
 * Brings CSVs written under an older schema to the current one (the
 * migrations are lib/migrations.ts). Files already current are left alone;
 * running it twice changes nothing.
 *
 *   deno task migrate [DIR]    (default results/)
 */
import { migrateText } from "../lib/migrations.ts";
import { writeFileAtomic } from "../lib/durable.ts";
import { firstLine, parseFlags, parseOrExit, UsageError } from "../lib/cli.ts";
import { readBoundedText } from "../lib/readback.ts";

function* csvFiles(dir: string): Generator<string> {
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* csvFiles(path);
    else if (e.isFile && e.name.endsWith(".csv")) yield path;
  }
}

if (import.meta.main) {
  const dir = parseOrExit(() => {
    const { values, positionals } = parseFlags(Deno.args, { help: { type: "boolean", short: "h" } }, true);
    if (values.help) {
      console.log("usage: deno task migrate [DIR]   (default results; rewrites old-schema CSVs under DIR in place)");
      Deno.exit(0);
    }
    if (positionals.length > 1) throw new UsageError(`migrate takes one directory, got ${positionals.length}`);
    const dir = (positionals[0] ?? "results").replace(/\/+$/, "");
    let isDir = false;
    try {
      isDir = Deno.statSync(dir).isDirectory;
    } catch { /* below */ }
    if (!isDir) throw new UsageError(`DIR ${dir} is not a directory`);
    return dir;
  });
  // Every file is read and migrated in memory first: a bad one is named and nothing is written.
  const todo = parseOrExit(() =>
    [...csvFiles(dir)].flatMap((path) => {
      let m;
      try {
        m = migrateText(readBoundedText(path, "CSV"));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`${path}: ${firstLine(err)}`);
      }
      return m ? [{ path, ...m }] : [];
    })
  );
  for (const { path, text, migration } of todo) {
    writeFileAtomic(path, text);
    console.log(`${path}: ${migration}`);
  }
  console.log(`${todo.length} file(s) migrated under ${dir}/`);
}
